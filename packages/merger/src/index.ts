export * from "./bundle/http-api.js";
export * from "./bundle/write-bundle.js";
export * from "./kube/profile-store.js";
