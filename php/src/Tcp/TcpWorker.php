<?php

declare(strict_types=1);

namespace Coyote\Tcp;

use Coyote\Worker\Payload;
use Coyote\Worker\Worker;

/**
 * The `tcp` plugin's events on top of the worker protocol
 * (`RR_MODE=tcp`), as roadrunner-php/tcp reads them: the context is JSON
 * `{"remote_addr","server","uuid","event"}`, the body the data; the answer's
 * context is a {@see TcpResponse} value and its body what to write.
 *
 * ```php
 * $tcp = new TcpWorker(Worker::create());
 * while ($request = $tcp->waitRequest()) {
 *     match ($request->event) {
 *         TcpEvent::Connected => $tcp->respond("hello\r\n"),
 *         TcpEvent::Data => $tcp->respond($request->body),
 *         default => $tcp->close(),
 *     };
 * }
 * ```
 */
final class TcpWorker
{
    public function __construct(private Worker $worker)
    {
    }

    public function worker(): Worker
    {
        return $this->worker;
    }

    /** Alias of {@see TcpWorker::worker}, roadrunner-php/tcp's name. */
    public function getWorker(): Worker
    {
        return $this->worker;
    }

    /**
     * The next event, or null when the server stops this worker.
     *
     * @throws \JsonException when the context is not JSON
     */
    public function waitRequest(): ?Request
    {
        $payload = $this->worker->waitPayload();
        if ($payload === null) {
            return null;
        }
        $context = \json_decode($payload->header, true, 512, \JSON_THROW_ON_ERROR);
        if (!\is_array($context)) {
            throw new \JsonException('the TCP context is not a JSON object');
        }
        $event = $context['event'] ?? 'UNKNOWN';
        return new Request(
            remoteAddr: (string) ($context['remote_addr'] ?? ''),
            event: TcpEvent::tryFrom(\is_string($event) ? $event : 'UNKNOWN') ?? TcpEvent::Unknown,
            body: $payload->body,
            connectionUuid: (string) ($context['uuid'] ?? ''),
            server: (string) ($context['server'] ?? ''),
        );
    }

    /** Answers the current event: write `$body` (and close, with RespondClose). */
    public function respond(string $body, TcpResponse $response = TcpResponse::Respond): void
    {
        $this->worker->respond(new Payload($body, $response->value));
    }

    /** Answers the current event with: write nothing, keep reading. */
    public function read(): void
    {
        $this->respond('', TcpResponse::Read);
    }

    /** Answers the current event with: close the connection. */
    public function close(): void
    {
        $this->respond('', TcpResponse::Close);
    }
}
