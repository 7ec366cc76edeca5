/** External command-line tools the end-to-end tests drive: skipped when missing, unless required (CI). */
export const e2eRequired = process.env.GATEHOUSE_E2E_REQUIRED === "1";

export function needTool(name: string, install: string): boolean {
  if (Bun.which(name)) return true;
  if (e2eRequired) throw new Error(`GATEHOUSE_E2E_REQUIRED=1 but ${name} is missing (${install})`);
  console.warn(`skipping: ${name} not found (${install})`);
  return false;
}

export async function run(
  cmd: string[],
  stdin?: string,
  env?: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn(cmd, {
    ...(env && { env: { ...process.env, ...env } }),
    stdin: stdin === undefined ? "ignore" : new TextEncoder().encode(stdin),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, stdout, stderr };
}
