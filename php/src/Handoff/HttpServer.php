<?php

declare(strict_types=1);

namespace Coyote\Handoff;

use Nyholm\Psr7\Factory\Psr17Factory;
use Psr\Http\Message\ResponseInterface;
use Psr\Http\Message\ServerRequestFactoryInterface;
use Psr\Http\Message\ServerRequestInterface;
use Psr\Http\Message\StreamFactoryInterface;
use Psr\Http\Message\UploadedFileFactoryInterface;
use Psr\Http\Message\UriFactoryInterface;

/**
 * An event-driven HTTP/1.1 server for a hand-off worker: one
 * stream_select() loop over the control socket, the listening socket
 * (reuseport) and every client connection, keep-alive and pipelining
 * included. The handler is a PSR-15 handler's `handle`: a
 * `callable(ServerRequestInterface): ResponseInterface`, or a
 * `Psr\Http\Server\RequestHandlerInterface`; it runs synchronously, one
 * request at a time, and an exception it throws is answered with 500 (the
 * connection and the worker go on).
 *
 * ```php
 * $factory = new Psr17Factory();
 * (HttpServer::create(fn (ServerRequestInterface $r) => $factory->createResponse()
 *     ->withBody($factory->createStream('Hello, World!'))))->run();
 * ```
 *
 * Requests the server refuses itself: 400 (malformed, then close), 413
 * (body over max_body_size), 431 (head over max_header_size), 501 (an
 * unknown transfer coding), 505 (not HTTP/1.x); multipart/form-data
 * uploads are parsed ({@see ServerRequestBuilder}) and their temp files
 * deleted once the answer is written or the connection is gone (unless the
 * handler moved them). A connection that does not
 * complete a head within header_timeout is closed, as is one idle for
 * idle_timeout between requests; select()'s timeout is the next deadline,
 * so an idle worker does not wake up. On stop: the listening socket is
 * closed, idle connections are closed at once, requests in progress are
 * answered (with `Connection: close`; a connection taken but silent so far
 * gets its one request, within header_timeout), then run() returns; closes
 * are reported to Coyote once per loop turn. No Fibers: the handler is
 * synchronous, the loop only multiplexes the sockets.
 */
final class HttpServer
{
    /** @var \Closure(ServerRequestInterface): ResponseInterface */
    private \Closure $handler;
    private HttpOptions $options;
    private ServerRequestBuilder $builder;
    /** @var array<int, HttpConnection> by stream id */
    private array $connections = [];
    /** @var array<int, resource> the connections select() waits to read, by stream id */
    private array $reading = [];
    /** @var array<int, resource> the connections with output waiting, by stream id */
    private array $writing = [];
    /** @var array<int, float> each connection's deadline (microtime), by stream id */
    private array $deadlines = [];

    /**
     * @param callable(ServerRequestInterface): ResponseInterface|object $handler a callable or a
     *        Psr\Http\Server\RequestHandlerInterface
     * @param HttpOptions|array<string, int|float> $options see {@see HttpOptions::fromArray}
     */
    public function __construct(
        callable|object $handler,
        private Acceptor $acceptor,
        HttpOptions|array $options = [],
        ?ServerRequestFactoryInterface $requests = null,
        ?StreamFactoryInterface $streams = null,
        ?UriFactoryInterface $uris = null,
        ?UploadedFileFactoryInterface $uploads = null,
    ) {
        if (\is_callable($handler)) {
            $this->handler = \Closure::fromCallable($handler);
        } elseif ($handler instanceof \Psr\Http\Server\RequestHandlerInterface) {
            $this->handler = \Closure::fromCallable([$handler, 'handle']);
        } else {
            throw new \TypeError('the handler must be a callable or a Psr\Http\Server\RequestHandlerInterface');
        }
        $this->options = \is_array($options) ? HttpOptions::fromArray($options) : $options;
        if ($requests === null || $streams === null || $uris === null || $uploads === null) {
            $factory = self::nyholm();
            $requests ??= $factory;
            $streams ??= $factory;
            $uris ??= $factory;
            $uploads ??= $factory;
        }
        $this->builder = new ServerRequestBuilder($requests, $streams, $uris, $uploads,
            new MultipartParser($this->options->maxFileUploads, $this->options->maxMultipartParts));
    }

    /**
     * A server on the sockets Coyote gave this process (see
     * {@see Acceptor::fromEnvironment}), with nyholm/psr7's factories.
     *
     * @param callable(ServerRequestInterface): ResponseInterface|object $handler
     * @param HttpOptions|array<string, int|float> $options
     */
    public static function create(callable|object $handler, HttpOptions|array $options = []): self
    {
        return new self($handler, Acceptor::fromEnvironment(), $options);
    }

    public function acceptor(): Acceptor
    {
        return $this->acceptor;
    }

    /** Connections open now. */
    public function connections(): int
    {
        return \count($this->connections);
    }

    /** Handshakes, serves until Coyote says stop and the last request in progress is answered. */
    public function run(): void
    {
        $this->acceptor->start($this->options->handshakeTimeout);
        // A fatal error or exit() in the handler: no upload temp file left behind either.
        register_shutdown_function(function (): void {
            foreach ($this->connections as $connection) {
                $connection->removeUploads();
            }
        });
        $stopped = false;
        while (!$stopped || $this->connections !== []) {
            // The sets and deadlines are kept per connection and changed only
            // for the connections a turn touched: a turn costs what its ready
            // connections cost, not a walk over every open one.
            $read = $this->reading;
            $write = $this->writing;
            foreach ($this->acceptor->readStreams() as $stream) {
                $read[(int) $stream] = $stream;
            }
            foreach ($this->acceptor->writeStreams() as $stream) {
                $write[(int) $stream] = $stream;
            }
            $wake = $this->acceptor->wakeAt();
            if ($this->deadlines !== []) {
                $wake = $wake === null ? min($this->deadlines) : min($wake, min($this->deadlines));
            }
            $timeout = $wake === null ? null : max(0.0, $wake - microtime(true));
            $except = null;
            if ($read === [] && $write === []) {
                if ($timeout !== null) {
                    usleep((int) ($timeout * 1e6) + 1000);
                }
                $read = [];
            } elseif (@stream_select($read, $write, $except, $timeout === null ? null : (int) $timeout,
                $timeout === null ? 0 : (int) (fmod($timeout, 1.0) * 1e6) + 1000) === false) {
                continue; // EINTR
            }
            $now = microtime(true);
            $progress = [];
            /** @var array<int, true> $touched connections with something to do this turn */
            $touched = [];
            foreach ($write as $stream) {
                $touched[(int) $stream] = true;
            }

            foreach ($this->acceptor->poll($read) as $new) {
                $connection = new HttpConnection($new, $this->options, $now);
                $this->connections[(int) $new->stream] = $connection;
                $read[] = $new->stream; // it may have sent its request already
            }
            if (!$stopped && $this->acceptor->stopping()) {
                $stopped = true;
                $touched = array_fill_keys(array_keys($this->connections), true);
            }
            foreach ($read as $stream) {
                $id = (int) $stream;
                $connection = $this->connections[$id] ?? null;
                if ($connection !== null && $connection->wantsRead()) {
                    $touched[$id] = true;
                    if ($connection->read() > 0) {
                        $progress[$id] = true;
                    }
                }
            }
            foreach ($touched as $id => $_) {
                $connection = $this->connections[$id] ?? null;
                if ($connection !== null) {
                    $this->serve($connection, $stopped, $progress, $now);
                }
            }
            if ($this->deadlines !== [] && min($this->deadlines) <= $now) {
                foreach ($this->deadlines as $id => $deadline) {
                    if ($deadline <= $now && isset($this->connections[$id])) {
                        $this->close($this->connections[$id]);
                    }
                }
            }
            $this->acceptor->flushReports();
        }
        $this->acceptor->finish();
    }

    /**
     * One touched connection's turn: its buffered requests, its output, then
     * whether it is done with, and its place in the sets and deadlines.
     *
     * @param array<int, true> $progress
     */
    private function serve(HttpConnection $connection, bool $stopped, array &$progress, float $now): void
    {
        $id = (int) $connection->stream();
        $this->process($connection, $stopped);
        if ($connection->writing()) {
            $written = $connection->write();
            if ($written === false) {
                $this->close($connection);
                return;
            }
            if ($written > 0) {
                $progress[$id] = true;
                $this->process($connection, $stopped);
            }
        }
        if (!$connection->writing()) {
            $connection->removeUploads(); // every answer queued so far is written
            // Done with: an answer that closes (after a lingering read for a
            // refused request), a client that sent EOF (what it sent in full
            // is answered by now), an idle connection once stopping.
            if ($connection->linger && !$connection->lingering && !$connection->readClosed) {
                $connection->startLinger();
            } elseif ($connection->lingering ? $connection->readClosed
                : ($connection->closeAfterWrite || $connection->readClosed || ($stopped && $connection->idle()))) {
                $this->close($connection);
                return;
            }
        }
        $stream = $connection->stream();
        if ($connection->wantsRead()) {
            $this->reading[$id] = $stream;
        } else {
            unset($this->reading[$id]);
        }
        if ($connection->writing()) {
            $this->writing[$id] = $stream;
        } else {
            unset($this->writing[$id]);
        }
        $this->deadlines[$id] = $connection->deadline($this->options, $now, isset($progress[$id]));
    }

    /** Handles the requests buffered on a connection, in order, as far as its output backlog allows. */
    private function process(HttpConnection $connection, bool $stopped): void
    {
        while ($connection->ready()) {
            try {
                $request = $connection->parser->next();
            } catch (HttpError $e) {
                $connection->respondRaw($e->status, $e->getMessage() . "\n", true);
                return;
            }
            if ($request === null) {
                if ($connection->parser->takeContinue()) {
                    $connection->respondContinue();
                }
                return;
            }
            $connection->requests++;
            $keepAlive = $request->keepAlive && !$stopped;
            $uploads = [];
            try {
                $psr = $this->builder->build($request, $connection->connection->meta, $uploads);
                $connection->uploads = [...$connection->uploads, ...$uploads];
            } catch (HttpError $e) {
                $connection->respondRaw($e->status, $e->getMessage() . "\n", true);
                return;
            }
            try {
                $response = ($this->handler)($psr);
                if (!$response instanceof ResponseInterface) {
                    throw new \UnexpectedValueException('the handler returned ' . get_debug_type($response)
                        . ', not a ResponseInterface');
                }
                $connection->respond($request, $response, $keepAlive);
            } catch (\Throwable $e) {
                fwrite(\STDERR, "{$request->method} {$request->target}: $e\n");
                $connection->respondRaw(500, "Internal Server Error\n", !$keepAlive, $request->version);
            }
        }
    }

    private function close(HttpConnection $connection): void
    {
        $id = (int) $connection->stream();
        unset($this->connections[$id], $this->reading[$id], $this->writing[$id], $this->deadlines[$id]);
        $connection->removeUploads();
        $this->acceptor->close($connection->connection);
    }

    private static function nyholm(): Psr17Factory
    {
        if (!class_exists(Psr17Factory::class) && stream_resolve_include_path('Nyholm/Psr7/autoload.php') !== false) {
            require_once 'Nyholm/Psr7/autoload.php';   // Debian's php-nyholm-psr7
        }
        if (!class_exists(Psr17Factory::class)) {
            throw new \LogicException('no PSR-17 factories given and nyholm/psr7 is not installed');
        }
        return new Psr17Factory();
    }
}
