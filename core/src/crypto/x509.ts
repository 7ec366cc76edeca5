/**
 * @peculiar/x509, loaded on first use: it (with the reflect-metadata polyfill it needs) costs several
 * megabytes of memory, and most starts never make or inspect a certificate.
 */
export type X509 = typeof import("@peculiar/x509");

let loading: Promise<X509> | undefined;

export function loadX509(): Promise<X509> {
  loading ??= (async () => {
    await import("reflect-metadata");
    return import("@peculiar/x509");
  })();
  return loading;
}
