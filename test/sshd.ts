// A throwaway sshd on 127.0.0.1 for the cluster tests: its own config, host
// key and client key in a temporary folder, a free port, never ~/.ssh.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";

export interface TestSshd {
  /** The ssh command (with key, port and no known-hosts file) to hand to GNU parallel. */
  ssh: string;
  stop(): Promise<void>;
}

/** The login name sshd knows this user by (os.userInfo() can answer "unknown" in containers). */
function loginName(): string {
  const r = Bun.spawnSync(["id", "-un"]);
  return r.exitCode === 0 ? r.stdout.toString().trim() : userInfo().username;
}

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function run(argv: string[]): void {
  const r = Bun.spawnSync(argv, { stdout: "ignore", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${argv.join(" ")} failed: ${r.stderr.toString()}`);
}

export async function startSshd(): Promise<TestSshd> {
  const dir = mkdtempSync(join(tmpdir(), "logmr-sshd-"));
  run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", join(dir, "host_key")]);
  run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", join(dir, "client_key")]);
  writeFileSync(join(dir, "authorized_keys"), await Bun.file(join(dir, "client_key.pub")).text());
  const port = await freePort();
  writeFileSync(
    join(dir, "sshd_config"),
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${join(dir, "host_key")}`,
      `PidFile ${join(dir, "sshd.pid")}`,
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PermitRootLogin prohibit-password",
      "StrictModes no",
      "UsePAM no",
      "MaxStartups 100",
      "MaxSessions 100",
      "",
    ].join("\n"),
  );
  mkdirSync("/run/sshd", { recursive: true }); // privilege separation directory
  const sshd: Subprocess = Bun.spawn(["/usr/sbin/sshd", "-D", "-e", "-f", join(dir, "sshd_config")], { stdout: "ignore", stderr: "pipe" });
  const ssh = `ssh -F /dev/null -i ${join(dir, "client_key")} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR -l ${loginName()} -p ${port}`;
  // Wait until it answers.
  for (let k = 0; k < 50; k++) {
    const probe = Bun.spawnSync([...ssh.split(" "), "127.0.0.1", "true"], { stdout: "ignore", stderr: "ignore" });
    if (probe.exitCode === 0) break;
    if (k === 49 || sshd.exitCode !== null) {
      sshd.kill();
      const why = await new Response(sshd.stderr as ReadableStream).text();
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`the test sshd did not start: ${why}`);
    }
    await Bun.sleep(100);
  }
  return {
    ssh,
    async stop() {
      sshd.kill();
      await sshd.exited; // it removes its pid file on the way out
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
