<?php

declare(strict_types=1);

namespace Coyote\Handoff;

/**
 * Where a hand-off worker's connections come from, in either mode, and
 * what it tells Coyote about them: fd_passing connections arrive on the
 * control socket with Coyote's ids; reuseport ones are accepted on the
 * worker's listening socket and numbered here. Closes are batched into one
 * report per loop turn (flushReports()): `closed` ids in fd_passing,
 * `open`/`accepted` in reuseport.
 *
 * Environment (fromEnvironment()): RR_MODE, COYOTE_HANDOFF_FD (3),
 * COYOTE_LISTEN_FD (4, reuseport), COYOTE_LISTEN_ADDRESS,
 * COYOTE_HANDOFF_LISTENER.
 */
final class Acceptor
{
    /** Connections taken per poll(), so that one busy source cannot starve the loop. */
    public const BATCH = 64;

    private int $nextId = 1;
    private int $accepted = 0;
    private int $open = 0;
    /** @var list<int> */
    private array $closed = [];
    private bool $countsChanged = false;
    private bool $stopping = false;
    private bool $eof = false;

    public function __construct(
        private ControlChannel $control,
        private Mode $mode,
        private ?Listener $listener = null,
        private string $listenerName = '',
    ) {
        if ($mode === Mode::Reuseport && $listener === null) {
            throw new HandoffException('reuseport needs the listening socket');
        }
    }

    /**
     * The acceptor Coyote set up for this process.
     *
     * @param array<string, string>|null $env the environment (getenv() when null)
     */
    public static function fromEnvironment(?array $env = null): self
    {
        $env ??= getenv();
        $modeName = $env['RR_MODE'] ?? '';
        $mode = Mode::tryFrom($modeName);
        if ($mode === null) {
            throw new HandoffException("RR_MODE is \"$modeName\": a hand-off worker runs with reuseport or fd_passing");
        }
        $name = $env['COYOTE_HANDOFF_LISTENER'] ?? '';
        $control = ControlChannel::fromFd((int) ($env['COYOTE_HANDOFF_FD'] ?? 3), $mode, $name);
        $listener = $mode === Mode::Reuseport
            ? Listener::fromFd((int) ($env['COYOTE_LISTEN_FD'] ?? 4), $env['COYOTE_LISTEN_ADDRESS'] ?? '')
            : null;
        return new self($control, $mode, $listener, $name);
    }

    /** The handshake; returns Coyote's pid. */
    public function start(float $timeout = 60.0): int
    {
        return $this->control->handshake($timeout);
    }

    public function mode(): Mode
    {
        return $this->mode;
    }

    public function control(): ControlChannel
    {
        return $this->control;
    }

    /** True once Coyote asked to stop (or went away): accept nothing more. */
    public function stopping(): bool
    {
        return $this->stopping;
    }

    /** True when the control socket hung up (nobody to report to). */
    public function controlClosed(): bool
    {
        return $this->eof;
    }

    /** Connections open now. */
    public function open(): int
    {
        return $this->open;
    }

    /** Connections taken so far. */
    public function accepted(): int
    {
        return $this->accepted;
    }

    /** @return list<resource> the streams to select for reading */
    public function readStreams(): array
    {
        $streams = $this->eof ? [] : [$this->control->stream()];
        $listen = $this->stopping ? null : $this->listener?->stream();
        if ($listen !== null && !$this->acceptPaused()) {
            $streams[] = $listen;
        }
        return $streams;
    }

    /**
     * When the loop must wake up without any socket being ready: the end
     * of an accept pause after running out of descriptors (reuseport);
     * null when there is none.
     */
    public function wakeAt(): ?float
    {
        return $this->stopping ? null : $this->listener?->pausedUntil();
    }

    private function acceptPaused(): bool
    {
        $until = $this->listener?->pausedUntil();
        return $until !== null && microtime(true) < $until;
    }

    /** @return list<resource> the streams to select for writing (queued reports) */
    public function writeStreams(): array
    {
        return !$this->eof && $this->control->hasPending() ? [$this->control->stream()] : [];
    }

    /**
     * Takes what is waiting, never blocking: new connections (at most
     * BATCH from each source), and a stop, after which stopping() is true
     * and the listening socket is closed.
     *
     * $readable, when given, is what stream_select() reported readable (by
     * any keys): only the sources in it are read, so that a loop turn
     * woken by its clients costs no accept() or recvmsg() that can only
     * fail with EAGAIN. Without it every source is tried.
     *
     * @param array<mixed, resource>|null $readable
     * @return list<Connection>
     */
    public function poll(?array $readable = null): array
    {
        $new = [];
        $ready = null;
        if ($readable !== null) {
            $ready = [];
            foreach ($readable as $stream) {
                $ready[(int) $stream] = true;
            }
        }
        if (!$this->eof) {
            $this->control->flush();
            $quiet = $ready !== null && !isset($ready[(int) $this->control->stream()]);
            for ($i = 0; !$quiet && $i < self::BATCH; $i++) {
                $message = $this->control->receive();
                if ($message === null) {
                    break;
                }
                if ($message instanceof Stop) {
                    $this->eof = $message->eof;
                    $this->stop();
                    break;
                }
                $new[] = $this->taken($message);
            }
        }
        $listen = $this->stopping ? null : $this->listener;
        if ($listen !== null && $ready !== null && !isset($ready[(int) $listen->stream()])
            && $listen->pausedUntil() === null) {
            $listen = null;    // not readable (a pause that ended is tried without select's word)
        }
        for ($i = 0; $listen !== null && !$this->stopping && $i < self::BATCH; $i++) {
            $socket = $listen->accept();
            if ($socket === null) {
                break;
            }
            $new[] = $this->taken(new Connection($socket, new ConnectionMeta(
                $this->nextId++,
                self::peerName($socket, true),
                self::peerName($socket, false),
                $this->listenerName,
                $this->mode,
            )));
        }
        return $new;
    }

    /** Stops accepting: closes the listening socket. */
    public function stop(): void
    {
        $this->stopping = true;
        $this->listener?->close();
    }

    /** Shuts down and closes a connection; reported by the next flushReports(). */
    public function close(Connection $connection): void
    {
        if ($connection->isClosed()) {
            return;
        }
        $connection->close();
        $this->open--;
        $this->countsChanged = true;
        if ($this->mode === Mode::FdPassing) {
            $this->closed[] = $connection->id();
        }
    }

    /** Sends what changed since the last call: one report (per 4096 ids). */
    public function flushReports(): void
    {
        if ($this->eof) {
            $this->closed = [];
            return;
        }
        if ($this->mode === Mode::Reuseport && $this->countsChanged) {
            $this->control->report([], $this->open, $this->accepted);
        } elseif ($this->closed !== []) {
            $this->control->report($this->closed);
        }
        $this->closed = [];
        $this->countsChanged = false;
    }

    /** Reports and waits (a little) until Coyote has them all: before exit. */
    public function finish(float $timeout = 5.0): void
    {
        $this->flushReports();
        if (!$this->eof) {
            $this->control->drain($timeout);
        }
    }

    private function taken(Connection $connection): Connection
    {
        $this->accepted++;
        $this->open++;
        $this->countsChanged = true;
        return $connection;
    }

    private static function peerName(\Socket $socket, bool $peer): string
    {
        $host = '';
        $port = null;
        $ok = $peer ? @socket_getpeername($socket, $host, $port) : @socket_getsockname($socket, $host, $port);
        if (!$ok || $port === null) {
            return '';
        }
        return (str_contains($host, ':') ? "[$host]" : $host) . ':' . $port;
    }
}
