/** Audit record type numbers (linux/audit.h) for the types the parser interprets. */
export const RECORD_TYPES: Readonly<Record<string, number>> = {
  USER_AVC: 1107,
  SYSCALL: 1300,
  PATH: 1302,
  SOCKADDR: 1306,
  CWD: 1307,
  EXECVE: 1309,
  EOE: 1320,
  SECCOMP: 1326,
  PROCTITLE: 1327,
  AVC: 1400,
  APPARMOR_AUDIT: 1501,
  APPARMOR_ALLOWED: 1502,
  APPARMOR_DENIED: 1503,
  APPARMOR_HINT: 1504,
  APPARMOR_STATUS: 1505,
  APPARMOR_ERROR: 1506,
};

const BY_NUMBER = new Map(Object.entries(RECORD_TYPES).map(([name, nr]) => [nr, name]));

export function typeName(nr: number): string | undefined {
  return BY_NUMBER.get(nr);
}

/**
 * Messages user space hands to the kernel (USER_*, daemon and other user ranges). Their text is
 * chosen by a process, so nothing inside them is evidence of what the kernel saw.
 */
export function isUserSpaceType(name: string, nr: number | undefined): boolean {
  if (nr !== undefined) return (nr >= 1100 && nr <= 1299) || (nr >= 2100 && nr <= 2999);
  return (
    name === "USER" ||
    name.startsWith("USER_") ||
    name.startsWith("DAEMON_") ||
    name.startsWith("CRYPTO_") ||
    name.startsWith("ANOM_LOGIN")
  );
}

/** Records that belong to a multi-record event and only enrich it. */
export const CONTEXT_TYPES = new Set(["SYSCALL", "PATH", "CWD", "EXECVE", "PROCTITLE", "SOCKADDR"]);
