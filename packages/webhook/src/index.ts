export { type HandlerDeps, type NamespaceView, review } from "./handler.js";
export { type TlsFiles, webhookServer } from "./server.js";
