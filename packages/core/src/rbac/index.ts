export * from "./crds.js";
export * from "./manifests.js";
export * from "./rbac.js";
export * from "./schema.js";
export * from "./table.js";
