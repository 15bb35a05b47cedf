/** Command-line options of the benchmark scripts: `--name value` or `--name=value`. */

export const argValue = (name: string): string | undefined => {
  const args = process.argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? "";
    if (a === `--${name}`) return args[i + 1];
    if (a.startsWith(`--${name}=`)) return a.slice(name.length + 3);
  }
  return undefined;
};

/** A whole number option of at least `min`; anything else ends the script with exit code 2. */
export const wholeArg = (name: string, fallback: number, min = 1): number => {
  const raw = argValue(name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    console.error(`--${name} must be a whole number of at least ${min}, not ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return n;
};
