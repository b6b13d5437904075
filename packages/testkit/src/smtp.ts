/**
 * `@mcpmas/testkit/smtp`: a real SMTP server (the `smtp-server` package) on a free loopback
 * port that keeps every mail it accepts, parsed (`mailparser`), for tests of e-mail
 * notifications. Needs `smtp-server` and `mailparser` (optional peer dependencies of
 * `@mcpmas/testkit`).
 */
import type { AddressInfo } from 'node:net';
import type { HubEvent } from '@mcpmas/core';
import { type ParsedMail, simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

/** One accepted mail. */
export interface ReceivedMail {
  mail: ParsedMail;
  /** The SMTP session was TLS (STARTTLS) when the mail was sent. */
  secure: boolean;
  user: string | undefined;
  /** Events from the JSON attachment. */
  events: HubEvent[];
}

/** A running receiver. */
export interface SmtpReceiver {
  /** The port it listens on (127.0.0.1). */
  port: number;
  /** Every accepted mail, in order. */
  mails: ReceivedMail[];
  /** While true, every message is refused with a temporary 451. */
  refuse: boolean;
  close(): Promise<void>;
}

/**
 * Starts a receiver. With `users`, a login is required and checked against them; without,
 * anyone may send.
 */
export async function startSmtpReceiver(
  options: { users?: Record<string, string> } = {},
): Promise<SmtpReceiver> {
  const mails: ReceivedMail[] = [];
  const receiver: SmtpReceiver = { port: 0, mails, refuse: false, close: async () => undefined };
  const server = new SMTPServer({
    authOptional: !options.users,
    allowInsecureAuth: true,
    logger: false,
    onAuth(auth, _session, callback) {
      if (options.users && options.users[auth.username ?? ''] === auth.password) {
        return callback(null, { user: auth.username });
      }
      return callback(new Error('invalid credentials'));
    },
    onData(stream, session, callback) {
      simpleParser(stream).then(
        (mail) => {
          if (receiver.refuse) {
            return callback(Object.assign(new Error('try again later'), { responseCode: 451 }));
          }
          const json = mail.attachments.find((a) => a.filename === 'mcpmas-events.json');
          mails.push({
            mail,
            secure: session.secure,
            user: session.user as string | undefined,
            events: json ? JSON.parse(json.content.toString('utf8')) : [],
          });
          callback();
        },
        (error: Error) => callback(error),
      );
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  receiver.port = (server.server.address() as AddressInfo).port;
  receiver.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return receiver;
}
