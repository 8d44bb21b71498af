<?php

declare(strict_types=1);

namespace Coyote\Http;

use Coyote\Goridge\Frame;
use Coyote\Worker\Payload;
use Coyote\Worker\Worker;

/**
 * HTTP on top of the worker protocol, without PSR-7: requests arrive as
 * {@see Request}, responses go back as status + headers + body in the JSON
 * response context `{"status":N,"headers":{name:[values]}}`.
 */
final class HttpWorker
{
    public function __construct(private Worker $worker)
    {
    }

    public function worker(): Worker
    {
        return $this->worker;
    }

    /** The next request, or null when the server stops this worker. */
    public function waitRequest(): ?Request
    {
        $payload = $this->worker->waitPayload();
        if ($payload === null) {
            return null;
        }
        if (($payload->codec & Frame::CODEC_PROTO) !== 0) {
            throw new \RuntimeException('this worker reads JSON request contexts; set http.context_encoding: json');
        }
        return Request::fromJson($payload->header, $payload->body);
    }

    /**
     * Sends a response (or, with `$final = false`, the first part of a
     * streamed one; later parts go through {@see HttpWorker::respondChunk}).
     *
     * @param array<string, string|list<string>> $headers
     */
    public function respond(int $status, string $body = '', array $headers = [], bool $final = true): bool
    {
        $normalized = [];
        foreach ($headers as $name => $value) {
            $normalized[$name] = \is_array($value) ? array_values(array_map('strval', $value)) : [(string) $value];
        }
        $context = json_encode(['status' => $status, 'headers' => (object) $normalized], \JSON_THROW_ON_ERROR);
        return $this->worker->respond(new Payload($body, $context, $final), Frame::CODEC_JSON);
    }

    /** A further part of a streamed body; false when the client went away. */
    public function respondChunk(string $chunk, bool $final = false): bool
    {
        return $this->worker->respond(new Payload($chunk, '', $final), Frame::CODEC_JSON);
    }

    /** Reports a failed request (HTTP 500; details only in debug mode). */
    public function error(string $message): void
    {
        $this->worker->error($message);
    }
}
