// Sessions to one MX host in one TLS mode, reused across sends: at most `max` open at once,
// idle ones closed after a while, each retired after a number of messages.
//
// A session that cannot be opened says something about the host, not just about the send that
// asked: with nothing else open, every send waiting for the host gets the same failure at once
// (rather than each waiting out its own connection timeout); with sessions open, the host is
// up but wants no more connections, so the waiting sends make do with the ones it has.
import type { Session } from './session.ts';

export interface PoolOptions {
  max: number;
  idleTimeoutMs: number;
  maxMessages: number;
  /** Called when the pool has nothing open or waiting any more, so its owner can drop it. */
  onEmpty?: () => void;
}

export interface Lease {
  session: Session;
  /** True when the session carried messages before: it may have gone stale meanwhile. */
  reused: boolean;
}

interface Waiter {
  addresses: string[];
  resolve(lease: Lease): void;
  reject(err: unknown): void;
}

export class Pool {
  private readonly open: (addresses: string[]) => Promise<Session>;
  private readonly limits: PoolOptions;
  /** Sessions open or being opened, idle or not. */
  private count = 0;
  /** How many sessions may be open now: `max`, or fewer after the host refused one more. */
  private ceiling: number;
  private readonly live = new Set<Session>();
  private readonly idle: { session: Session; timer: NodeJS.Timeout }[] = [];
  private readonly waiting: Waiter[] = [];
  private closed = false;

  constructor(open: (addresses: string[]) => Promise<Session>, limits: PoolOptions) {
    this.open = open;
    this.limits = limits;
    this.ceiling = limits.max;
  }

  /** An idle session, a new one if fewer than `max` are open, or the next one released. */
  acquire(addresses: string[]): Promise<Lease> {
    if (this.closed) return Promise.reject(new Error('outbound is closed'));
    return new Promise((resolve, reject) => {
      this.waiting.push({ addresses, resolve, reject });
      this.pump();
    });
  }

  /** Hands a session back; one that is not `reusable` (or worn out) is closed. */
  release(session: Session, reusable: boolean): void {
    if (!this.live.has(session)) return;
    if (this.closed || !reusable || !session.usable || session.sent >= this.limits.maxMessages) {
      this.forget(session);
      void session.close();
    } else {
      const timer = setTimeout(() => this.expire(session), this.limits.idleTimeoutMs);
      timer.unref();
      this.idle.push({ session, timer });
    }
    this.pump();
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const waiter of this.waiting.splice(0)) waiter.reject(new Error('outbound is closed'));
    for (const { timer } of this.idle.splice(0)) clearTimeout(timer);
    await Promise.all([...this.live].map((session) => session.close()));
  }

  private pump(): void {
    while (this.waiting.length > 0) {
      const idle = this.idle.pop();
      if (idle) {
        clearTimeout(idle.timer);
        if (!idle.session.usable) {
          this.forget(idle.session);
          continue;
        }
        this.waiting.shift()!.resolve({ session: idle.session, reused: true });
      } else if (this.count < this.ceiling) {
        this.count++;
        const waiter = this.waiting.shift()!;
        this.open(waiter.addresses).then(
          (session) => {
            this.live.add(session);
            session.onEnd(() => this.forget(session));
            if (this.closed) {
              this.forget(session);
              void session.close();
              waiter.reject(new Error('outbound is closed'));
            } else {
              waiter.resolve({ session, reused: false });
            }
          },
          (err: unknown) => {
            this.count--;
            if (this.count === 0) {
              this.ceiling = this.limits.max;
              for (const other of [waiter, ...this.waiting.splice(0)]) other.reject(err);
            } else {
              this.ceiling = this.count;
              this.waiting.unshift(waiter);
            }
            this.pump();
            this.checkEmpty();
          },
        );
      } else {
        return;
      }
    }
  }

  private expire(session: Session): void {
    const at = this.idle.findIndex((entry) => entry.session === session);
    if (at < 0) return;
    this.idle.splice(at, 1);
    this.forget(session);
    void session.close();
  }

  // A session that ended, or that we are closing, stops counting against the limit.
  private forget(session: Session): void {
    if (!this.live.delete(session)) return;
    this.count--;
    if (this.count === 0) this.ceiling = this.limits.max;
    const at = this.idle.findIndex((entry) => entry.session === session);
    if (at >= 0) clearTimeout(this.idle.splice(at, 1)[0]!.timer);
    this.pump();
    this.checkEmpty();
  }

  private checkEmpty(): void {
    if (this.count === 0 && this.waiting.length === 0) this.limits.onEmpty?.();
  }
}
