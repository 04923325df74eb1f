/** Stylesheets imported by the bundle entry; esbuild emits them as `dist/ui/main.css`. */
declare module '*.css';
