/**
 * The wire protocol (STYLE §5, SPEC §8): decode.ts turns text into a typed message or a
 * ProtocolError (checks.ts holds the checks of what clients send), encode.ts turns a message
 * into text, fast.ts holds the hand-written per-operation paths both use. Everyone imports from here ('…/common/protocol').
 */
export { ProtocolError, isProtocolError, isNat, validView, checkReq, patternKey, MAX_DEPTH, nestingTooDeep, decode } from './decode';
export { encode } from './encode';
export { type DecodeOptions, TRUSTED } from './fast';
export { MAX_TTL_MS, DEFAULT_SESSION_TTL_MS } from './lease-checks';
