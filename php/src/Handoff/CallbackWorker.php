<?php

declare(strict_types=1);

namespace Coyote\Handoff;

/**
 * The simplest hand-off worker: one connection at a time, handed to a
 * callback with the connection as a blocking stream. When the callback
 * returns (or throws: logged to STDERR) the connection is shut down,
 * closed and reported. Works in both modes.
 *
 * ```php
 * (CallbackWorker::create())->run(function ($stream, ConnectionMeta $meta): void {
 *     fwrite($stream, "hello {$meta->peer}\n");
 * });
 * ```
 *
 * A stop frame is noticed between connections: connections already taken
 * are served, then run() returns.
 */
final class CallbackWorker
{
    public function __construct(private Acceptor $acceptor, private float $handshakeTimeout = 60.0)
    {
    }

    /** @param array<string, string>|null $env see {@see Acceptor::fromEnvironment} */
    public static function create(?array $env = null): self
    {
        return new self(Acceptor::fromEnvironment($env));
    }

    public function acceptor(): Acceptor
    {
        return $this->acceptor;
    }

    /**
     * Serves until Coyote says stop.
     *
     * @param callable(resource, ConnectionMeta): mixed $handle
     */
    public function run(callable $handle): void
    {
        $this->acceptor->start($this->handshakeTimeout);
        while (!$this->acceptor->stopping()) {
            $read = $this->acceptor->readStreams();
            $write = $this->acceptor->writeStreams();
            $except = null;
            $wake = $this->acceptor->wakeAt();    // an accept pause (out of descriptors)
            $timeout = $wake === null ? null : max(0.0, $wake - microtime(true));
            if ($read === [] && $write === []) {
                usleep((int) (($timeout ?? 0.01) * 1e6) + 1000);
                $read = [];
            } elseif (@stream_select($read, $write, $except, $timeout === null ? null : (int) $timeout,
                $timeout === null ? 0 : (int) (fmod($timeout, 1.0) * 1e6) + 1000) === false) {
                continue; // EINTR (a signal)
            }
            foreach ($this->acceptor->poll() as $connection) {
                $this->serve($connection, $handle);
            }
            $this->acceptor->flushReports();
        }
        $this->acceptor->finish();
    }

    private function serve(Connection $connection, callable $handle): void
    {
        try {
            stream_set_blocking($connection->stream, true);
            $handle($connection->stream, $connection->meta);
        } catch (\Throwable $e) {
            fwrite(\STDERR, "connection {$connection->id()}: $e\n");
        } finally {
            $this->acceptor->close($connection);
        }
    }
}
