/**
 * The view service (SPEC §2, §5, §6): `startViewService(options)` runs it on one port
 * (WebSocket `/` + HTTP); `ViewMachine` is its deterministic core.
 */
export { startViewService } from './view-server';
export { viewJson } from './view-http';
export type { ViewService, ViewServiceOptions } from './view-server';
export { ViewMachine } from './view-machine';
export type { ViewMachineOptions, ViewStatus, ServerStatus, ViewMachineEvent, DeathReason } from './view-machine';
export { loadDashboard, DASHBOARD_CSP } from './dashboard-assets';
