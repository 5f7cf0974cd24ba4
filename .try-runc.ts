import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync, readlinkSync } from "node:fs";
import { runcBundle } from "./packages/recorder/src/runtime/runc.ts";
const id = "a".repeat(60) + "1234";
const uid = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
const cg = process.argv[2] ?? `kubepods/besteffort/pod${uid}/${id}`;
const b = await runcBundle(["sleep", "30"], { cgroupsPath: cg, id: `trial-${process.pid}` });
try {
  const r = spawnSync("runc", ["run", "-d", "--bundle", b.dir, b.id], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  console.log("run", r.status, r.stderr);
  const st = JSON.parse(execFileSync("runc", ["state", b.id], { encoding: "utf8" }));
  console.log(st.pid, st.status);
  console.log(readFileSync(`/proc/${st.pid}/cgroup`, "utf8"));
  console.log(readlinkSync(`/proc/${st.pid}/ns/mnt`), readFileSync(`/proc/${st.pid}/stat`, "utf8"));
} finally { await b.cleanup(); }
