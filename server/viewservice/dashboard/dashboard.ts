/**
 * The live dashboard's script (SPEC §5), bundled by scripts/build-browser.js into
 * dist/dashboard/dashboard.js and loaded by dashboard.html as a module (deferred: the
 * markup is there when it runs). Independent parts: the view panel works without the
 * key browser, and the key browser says what is missing when the client is not built;
 * the replica panel (load, lag, transfers) reads only the view service's GET /stats.
 */
import { pageToken } from './dom';
import { startViewPanel } from './view-panel';
import { startKeyBrowser } from './key-browser';
import { startUsersPanel } from './users-panel';
import { startReplicaPanel } from './replica-panel';
import { startInstancesPanel } from './instances-panel';

startViewPanel(pageToken());
startKeyBrowser();
startReplicaPanel();
startUsersPanel();
startInstancesPanel();
