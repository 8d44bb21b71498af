<?php

declare(strict_types=1);

namespace Coyote\Http;

use Coyote\Goridge\Frame;
use Coyote\Worker\Payload;
use Coyote\Worker\Worker;

/**
 * HTTP on top of the worker protocol, without PSR-7: requests arrive as
 * {@see Request}, responses go back as status + headers + body. The
 * response context is encoded like the request's: JSON
 * `{"status":N,"headers":{name:[values]}}`, or `http.v1.Response` when the
 * server sent `http.v1.Request` protobuf (`http.context_encoding: proto`).
 */
final class HttpWorker
{
    /** The last request came as protobuf: answer in kind. */
    private bool $proto = false;

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
        $this->proto = ($payload->codec & Frame::CODEC_PROTO) !== 0;
        return $this->proto
            ? Request::fromProto($payload->header, $payload->body)
            : Request::fromJson($payload->header, $payload->body);
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
        if ($this->proto) {
            $response = new \Coyote\Proto\Http\Response();
            $response->setStatus($status);
            $map = [];
            foreach ($normalized as $name => $values) {
                $map[$name] = new \Coyote\Proto\Http\HeaderValue(['value' => $values]);
            }
            $response->setHeaders($map);
            return $this->worker->respond(new Payload($body, $response->serializeToString(), $final), Frame::CODEC_PROTO);
        }
        $context = json_encode(['status' => $status, 'headers' => (object) $normalized], \JSON_THROW_ON_ERROR);
        return $this->worker->respond(new Payload($body, $context, $final), Frame::CODEC_JSON);
    }

    /** A further part of a streamed body; false when the client went away. */
    public function respondChunk(string $chunk, bool $final = false): bool
    {
        return $this->worker->respond(new Payload($chunk, '', $final), $this->proto ? Frame::CODEC_PROTO : Frame::CODEC_JSON);
    }

    /** Reports a failed request (HTTP 500; details only in debug mode). */
    public function error(string $message): void
    {
        $this->worker->error($message);
    }
}
