/** Progress bars on stderr (cli-progress), only on a TTY or with --progress; otherwise one line per phase. */
import cliProgress from 'cli-progress';

export class Progress {
  private bar: cliProgress.SingleBar | undefined;

  constructor(private readonly enabled: boolean) {}

  /** Starts a phase; returns the callback load generators call with the fraction done (0..1). */
  phase(label: string): (fraction: number) => void {
    this.end();
    if (!this.enabled) {
      return () => {};
    }
    this.bar = new cliProgress.SingleBar(
      { format: `${label.padEnd(34).slice(0, 34)} [{bar}] {percentage}%`, stream: process.stderr, hideCursor: false, clearOnComplete: true },
      cliProgress.Presets.shades_classic,
    );
    this.bar.start(100, 0);
    return (fraction) => this.bar?.update(Math.round(fraction * 100));
  }

  end(): void {
    this.bar?.stop();
    this.bar = undefined;
  }

  /** A one-line status message on stderr. */
  log(message: string): void {
    this.end();
    process.stderr.write(`bench: ${message}\n`);
  }
}
