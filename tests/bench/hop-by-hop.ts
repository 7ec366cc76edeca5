/** The `proxy` suite's minimal engines: headers that describe one connection and are not passed on. */
export const HOP_BY_HOP = [
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
];
