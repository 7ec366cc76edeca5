/** Gatehouse's version, from package.json (bundled into compiled binaries at build time). */
import pkg from "../package.json" with { type: "json" };

export const VERSION: string = pkg.version;
