/**
 * Sends mail through SMTP with nodemailer: the global settings, or an email stage's own. Failures are
 * reported to the caller; the password is never logged.
 */
import type { CoreConfig } from "../config/index.ts";

export interface SmtpSettings {
  host: string;
  port: number;
  username: string;
  password: string;
  useTls: boolean;
  useSsl: boolean;
  timeoutSeconds: number;
  from: string;
}

export function globalSmtp(config: CoreConfig): SmtpSettings {
  return {
    host: config["email.host"],
    port: config["email.port"],
    username: config["email.username"],
    password: config["email.password"],
    useTls: config["email.use_tls"],
    useSsl: config["email.use_ssl"],
    timeoutSeconds: config["email.timeout"],
    from: config["email.from"],
  };
}

export interface Mail {
  to: string;
  subject: string;
  text: string;
  html: string;
}

export async function sendMail(settings: SmtpSettings, mail: Mail): Promise<void> {
  // Loaded on first use, so a core that never sends mail does not carry nodemailer.
  const { createTransport } = await import("nodemailer");
  const transport = createTransport({
    host: settings.host,
    port: settings.port,
    secure: settings.useSsl,
    requireTLS: settings.useTls,
    ignoreTLS: !settings.useTls && !settings.useSsl,
    connectionTimeout: settings.timeoutSeconds * 1000,
    socketTimeout: settings.timeoutSeconds * 1000,
    ...(settings.username && { auth: { user: settings.username, pass: settings.password } }),
  });
  try {
    await transport.sendMail({ from: settings.from, ...mail });
  } finally {
    transport.close();
  }
}
