import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import './styles.css';

/**
 * The view service to connect to: `?view=ws://host:port` in the page's address, else the
 * one `understudy dev` starts on this machine (port 7000 of the host that served the page).
 */
const view = new URLSearchParams(location.search).get('view') ?? `ws://${location.hostname || '127.0.0.1'}:7000`;

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App view={view} />
  </StrictMode>,
);
