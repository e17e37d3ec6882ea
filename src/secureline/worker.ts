import { randomUUID } from 'node:crypto';
import type { Db } from '../db/index.ts';
import type { Logger } from '../log/index.ts';
import { DELIVERY_CHANNEL } from '../messages/index.ts';
import type { Secureline } from './deliver.ts';
import { heartbeat, MISSED_HEARTBEATS, releaseAllClaims, retire } from './heartbeat.ts';
import { type Claimed, claimDue, releaseClaim } from './queue.ts';

// An error's kind and code only: a database's or a server's message can quote an address.
const errorFields = (err: unknown) => ({
  error: (err as Error)?.name,
  code: (err as { code?: string })?.code,
});

export interface DeliveryWorkerOptions {
  /** Deliveries in flight at once. */
  concurrency: number;
  /** How long one delivery may hold its claim before another worker takes it over. */
  leaseSeconds: number;
  /**
   * How often the worker says it is alive (5 s); after three missed heartbeats it is taken for
   * dead and its claims are handed back.
   */
  heartbeatSeconds?: number;
  /**
   * The only worker of its database (the embedded one, which one process owns): every claim found
   * at start belongs to a process that died, and is handed back at once.
   */
  soleWorker?: boolean;
  /** The longest wait between looks at the queue when no notification comes (1 s). */
  pollMs?: number;
  /** Claims without a recorded outcome before the recipient is failed (10). */
  maxClaims?: number;
}

/**
 * Takes due recipients from the queue and runs their deliveries, up to `concurrency` at once.
 * Claims are made in batches: a claim runs when a quarter of the slots are free (or the worker is
 * idle), so a busy worker makes one claim statement per several deliveries. New mail wakes it
 * through NOTIFY; otherwise it looks every `pollMs` (retries coming due, leases running out).
 * Its heartbeat registers it as alive and hands back the claims of workers found dead.
 */
export class DeliveryWorker {
  /** Recorded on each claim, so its claims can be found if it dies. */
  readonly id = randomUUID();
  private readonly db: Db;
  private readonly secureline: Secureline;
  private readonly log: Logger;
  private readonly clock: () => Date;
  private readonly concurrency: number;
  private readonly leaseSeconds: number;
  private readonly pollMs: number;
  private readonly maxClaims: number;
  private readonly heartbeatSeconds: number;
  private readonly soleWorker: boolean;
  /** Free slots below which no claim is made while deliveries run. */
  private readonly batch: number;

  private active = 0;
  private claiming = false;
  /** A wake-up came while a claim ran: claim again when it ends. */
  private again = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private heart: NodeJS.Timeout | undefined;
  private beating: Promise<void> | null = null;
  /** A heartbeat found or made this worker's row. */
  private registered = false;
  private unlisten: (() => Promise<void>) | undefined;
  private readonly running = new Set<Promise<void>>();

  constructor(
    deps: { db: Db; secureline: Secureline; log: Logger; clock: () => Date },
    options: DeliveryWorkerOptions,
  ) {
    this.db = deps.db;
    this.secureline = deps.secureline;
    this.log = deps.log;
    this.clock = deps.clock;
    this.concurrency = options.concurrency;
    this.leaseSeconds = options.leaseSeconds;
    this.pollMs = options.pollMs ?? 1000;
    this.maxClaims = options.maxClaims ?? 10;
    this.heartbeatSeconds = options.heartbeatSeconds ?? 5;
    this.soleWorker = options.soleWorker ?? false;
    this.batch = Math.max(1, Math.ceil(options.concurrency / 4));
  }

  async start(): Promise<void> {
    if (this.soleWorker) {
      const released = await releaseAllClaims(this.db, this.clock());
      if (released > 0) this.log.info({ released }, 'delivery queue: claims of the previous run handed back');
    }
    await this.beat();
    this.heart = setInterval(() => void this.beat(), this.heartbeatSeconds * 1000);
    this.unlisten = await this.db.listen(DELIVERY_CHANNEL, () => this.wake());
    this.wake();
  }

  /**
   * Stops claiming, waits (up to `timeoutMs`) for the deliveries in flight to end, and hands back
   * what is still claimed, for other workers to take at once.
   */
  async stop(timeoutMs = 10_000): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.heart);
    await this.unlisten?.();
    let timeout: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.running]),
      new Promise((resolve) => (timeout = setTimeout(resolve, timeoutMs))),
    ]);
    clearTimeout(timeout);
    await this.beating;
    await retire(this.db, { workerId: this.id, now: this.clock() }).catch((err: unknown) =>
      this.log.warn(errorFields(err), 'delivery worker: claims not handed back at stop'),
    );
  }

  /** Says this worker is alive, and hands back the claims of workers that stopped saying so. */
  private beat(): Promise<void> {
    if (this.beating) return this.beating; // the database is slow: the one under way counts
    this.beating = heartbeat(this.db, {
      workerId: this.id,
      aliveSeconds: MISSED_HEARTBEATS * this.heartbeatSeconds,
      now: this.clock(),
    })
      .then(({ known, released }) => {
        if (!known && this.registered)
          this.log.warn('delivery worker: taken for dead after missed heartbeats; its claims went to others');
        this.registered = true;
        if (released > 0) {
          this.log.info({ released }, 'delivery queue: claims of dead workers handed back');
          this.wake();
        }
      })
      .catch((err: unknown) => this.log.warn(errorFields(err), 'delivery worker: heartbeat failed'))
      .finally(() => (this.beating = null));
    return this.beating;
  }

  /** Claims what there is room for, now (or as soon as the claim under way ends). */
  wake(): void {
    if (this.stopped) return;
    if (this.claiming) {
      this.again = true;
      return;
    }
    const free = this.concurrency - this.active;
    if (free === 0 || (free < this.batch && this.active > 0)) return; // a finishing delivery wakes it
    // Tracked with the deliveries, so stop() also waits for a claim under way.
    const claiming = this.claim(free).finally(() => this.running.delete(claiming));
    this.running.add(claiming);
  }

  private async claim(limit: number): Promise<void> {
    this.claiming = true;
    this.again = false;
    clearTimeout(this.timer);
    let claimed: Claimed[] = [];
    try {
      claimed = await claimDue(this.db, {
        workerId: this.id,
        limit,
        now: this.clock(),
        leaseSeconds: this.leaseSeconds,
      });
    } catch (err) {
      this.log.warn(errorFields(err), 'delivery queue: claim failed');
    } finally {
      this.claiming = false;
    }
    if (this.stopped) {
      // Stopped while claiming: the recipients are handed back, due at once for another worker,
      // rather than held until their leases end.
      const now = this.clock();
      await Promise.all(claimed.map((r) => releaseClaim(this.db, this.id, r, now).catch(() => {})));
      return;
    }
    for (const recipient of claimed) this.run(recipient);
    // A full claim says more is waiting; otherwise the next notification or poll.
    if (this.again || claimed.length === limit) this.wake();
    this.timer = setTimeout(() => this.wake(), this.pollMs);
  }

  private run(recipient: Claimed): void {
    this.active++;
    const done = this.deliver(recipient).finally(() => {
      this.active--;
      this.running.delete(done);
      this.wake();
    });
    this.running.add(done);
  }

  private async deliver(recipient: Claimed): Promise<void> {
    try {
      if (recipient.claims > this.maxClaims)
        await this.secureline.giveUp(recipient, `no outcome could be recorded in ${this.maxClaims} tries`);
      else await this.secureline.deliver(recipient);
    } catch (err) {
      // Nothing was recorded (the database, most likely): the recipient is due again after a
      // growing pause; if even that fails, its lease runs out.
      const seconds = Math.min(900, 15 * 2 ** (recipient.claims - 1));
      this.log.warn(
        { org_id: recipient.org_id, recipient_id: recipient.recipient_id, ...errorFields(err) },
        'delivery failed before its outcome was recorded',
      );
      await releaseClaim(
        this.db,
        this.id,
        recipient,
        new Date(this.clock().getTime() + seconds * 1000),
      ).catch(() => {});
    }
  }
}
