/**
 * Stands in for zod's bundle of error-message locales in the browser build (about 260 KB minified, held
 * in the bundle by zod's `locales` namespace re-export). The dashboard never switches locales; zod's own
 * English messages are imported by zod directly and stay. See the browser entry in tsup.config.ts.
 */
export {};
