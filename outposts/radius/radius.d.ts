/** The part of npm `radius` (1.1.x, untyped) the outpost uses. */
declare module "radius" {
  export interface RadiusPacket {
    code: string;
    identifier: number;
    length: number;
    authenticator: Buffer;
    attributes: Record<string, unknown>;
    raw_attributes: [number, Buffer][];
  }
  export interface EncodeArgs {
    code: string;
    identifier: number;
    authenticator?: Buffer;
    attributes: [number | string, unknown][];
    secret: string;
    add_message_authenticator?: boolean;
  }
  const radius: {
    decode(args: { packet: Buffer; secret: string }): RadiusPacket;
    encode(args: EncodeArgs): Buffer;
    unload_dictionaries(): void;
    InvalidSecretError: new (...args: unknown[]) => Error;
  };
  export default radius;
}
