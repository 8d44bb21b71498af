<?php

declare(strict_types=1);

namespace Coyote\Jobs;

use Coyote\Worker\Payload;
use Coyote\Worker\Worker;

/**
 * A task handed to this consumer worker. It arrived as one payload: the
 * body is the task's payload (raw bytes), the context a JSON object
 * `{"id","job","driver","headers":{name:[values]},"pipeline","queue"}`.
 *
 * It is answered once, with one response whose body is
 * `{"type":N,"data":...}` (context empty):
 *
 * | method                  | type | data                                                  | server does            |
 * |-------------------------|------|-------------------------------------------------------|------------------------|
 * | complete() (deprecated) | 0    | []                                                    | ack                    |
 * | fail() (deprecated)     | 1    | {message, requeue, delay_seconds[, headers]}          | requeue if asked, else ack |
 * | ack()                   | 2    | []                                                    | ack                    |
 * | nack()                  | 3    | {message, requeue, delay_seconds}                     | redeliver if asked, else drop |
 * | requeue()               | 4    | {message, delay_seconds[, headers]}                   | re-push, same id       |
 *
 * `headers` (the task's headers, as changed by withHeader() & co.) is sent
 * only when not empty; `delay_seconds` is what withDelay() set (0 by
 * default). A task and the copies withDelay()/withHeader() make of it
 * share one answer: once any of them answered, the others' answers are
 * ignored (no second response is sent).
 */
final class ReceivedTask
{
    use ChangesHeaders;

    public const COMPLETE = 0;
    public const FAIL = 1;
    public const ACK = 2;
    public const NACK = 3;
    public const REQUEUE = 4;

    private int $delay = 0;

    /** Shared by this task and its copies: `->type` is the answer sent, or null. */
    private \stdClass $answer;

    /** @param array<string, list<string>> $headers */
    public function __construct(
        private readonly Worker $worker,
        private readonly string $id,
        private readonly string $name,
        private readonly string $payload,
        private readonly string $pipeline,
        private readonly string $queue,
        private readonly string $driver,
        array $headers = [],
    ) {
        $this->headers = $headers;
        $this->answer = new \stdClass();
        $this->answer->type = null;
    }

    /**
     * Reads a task from what the server sent.
     *
     * `id`, `job` and `pipeline` are required strings; `driver` defaults
     * to ""; `queue`, when absent or empty, is the pipeline's name;
     * `headers` may be an object of lists of strings, `[]`, null or absent.
     *
     * @throws MalformedTaskException when the context is not such an object
     */
    public static function fromPayload(Worker $worker, Payload $payload): self
    {
        try {
            // Objects stay objects, so `{"0":[...]}` is told from `[[...]]`.
            $decoded = json_decode($payload->header, false, 64, \JSON_THROW_ON_ERROR);
        } catch (\JsonException $e) {
            throw new MalformedTaskException(
                'task context is not JSON (' . $e->getMessage() . '): ' . self::excerpt($payload->header),
                0,
                $e,
            );
        }
        if (!$decoded instanceof \stdClass) {
            throw new MalformedTaskException('task context is not a JSON object: ' . self::excerpt($payload->header));
        }
        $context = get_object_vars($decoded);
        $queue = self::field($context, 'queue', false);
        $pipeline = self::field($context, 'pipeline', true);
        return new self(
            $worker,
            self::field($context, 'id', true),
            self::field($context, 'job', true),
            $payload->body,
            $pipeline,
            $queue === '' ? $pipeline : $queue,
            self::field($context, 'driver', false),
            self::headers($context['headers'] ?? null),
        );
    }

    public function getId(): string
    {
        return $this->id;
    }

    /** The task's name (the context's `job`). */
    public function getName(): string
    {
        return $this->name;
    }

    public function getPayload(): string
    {
        return $this->payload;
    }

    public function getPipeline(): string
    {
        return $this->pipeline;
    }

    public function getQueue(): string
    {
        return $this->queue;
    }

    public function getDriver(): string
    {
        return $this->driver;
    }

    /** The seconds nack(), requeue() and fail() ask the server to wait. */
    public function getDelay(): int
    {
        return $this->delay;
    }

    /** A copy whose nack(), requeue() and fail() carry `delay_seconds: $seconds`. */
    public function withDelay(int $seconds): self
    {
        if ($seconds < 0) {
            throw new \InvalidArgumentException("delay must be 0 or more seconds, got $seconds");
        }
        $self = clone $this;
        $self->delay = $seconds;
        return $self;
    }

    /** Done: the server forgets the task. */
    public function ack(): void
    {
        $this->respond(self::ACK, []);
    }

    /**
     * Not done: the server redelivers it (after the delay) when
     * `$redelivery`, else drops it.
     */
    public function nack(string|\Stringable $message, bool $redelivery = false): void
    {
        $this->respond(self::NACK, [
            'message' => (string) $message,
            'requeue' => $redelivery,
            'delay_seconds' => $this->delay,
        ]);
    }

    /** Push it again (same id) with this task's headers, after the delay. */
    public function requeue(string|\Stringable $message): void
    {
        $data = ['message' => (string) $message, 'delay_seconds' => $this->delay];
        if ($this->headers !== []) {
            $data['headers'] = (object) $this->headers;
        }
        $this->respond(self::REQUEUE, $data);
    }

    /** @deprecated use ack() */
    public function complete(): void
    {
        $this->respond(self::COMPLETE, []);
    }

    /**
     * Failed: requeued with this task's headers and the delay when
     * `$requeue`, else acknowledged.
     *
     * @deprecated use nack() or requeue()
     */
    public function fail(string|\Stringable $error, bool $requeue = false): void
    {
        $data = ['message' => (string) $error, 'requeue' => $requeue, 'delay_seconds' => $this->delay];
        if ($this->headers !== []) {
            $data['headers'] = (object) $this->headers;
        }
        $this->respond(self::FAIL, $data);
    }

    /** True once this task (or a copy of it) answered. */
    public function isCompleted(): bool
    {
        return $this->answer->type !== null;
    }

    /** Answered with ack() or complete(). */
    public function isSuccessful(): bool
    {
        return $this->answer->type === self::ACK || $this->answer->type === self::COMPLETE;
    }

    /** Answered with nack(), requeue() or fail(). */
    public function isFails(): bool
    {
        return \in_array($this->answer->type, [self::FAIL, self::NACK, self::REQUEUE], true);
    }

    /** The response body for `$type` with `$data` (what respond() sends). */
    public static function replyBody(int $type, array $data): string
    {
        return json_encode(
            ['type' => $type, 'data' => $data],
            \JSON_THROW_ON_ERROR | \JSON_INVALID_UTF8_SUBSTITUTE | \JSON_UNESCAPED_SLASHES,
        );
    }

    private function respond(int $type, array $data): void
    {
        if ($this->answer->type !== null) {
            return;
        }
        $body = self::replyBody($type, $data);
        $this->answer->type = $type;
        $this->worker->respond(new Payload($body));
    }

    /** @param array<string, mixed> $context */
    private static function field(array $context, string $key, bool $required): string
    {
        $value = $context[$key] ?? null;
        if ($value === null && !$required) {
            return '';
        }
        if (!\is_string($value) || ($required && $value === '')) {
            throw new MalformedTaskException(
                "task context field \"$key\" must be a " . ($required ? 'non-empty ' : '')
                . 'string, got ' . ($value === null ? 'none' : json_encode($value)),
            );
        }
        return $value;
    }

    /** @return array<string, list<string>> */
    private static function headers(mixed $headers): array
    {
        if ($headers === null || $headers === []) {
            return [];
        }
        if (!$headers instanceof \stdClass) {
            throw new MalformedTaskException('task context "headers" must be an object, got ' . json_encode($headers));
        }
        $result = [];
        foreach (get_object_vars($headers) as $name => $values) {
            $values ??= [];
            if (!\is_array($values) || array_filter($values, static fn (mixed $v): bool => !\is_string($v)) !== []) {
                throw new MalformedTaskException(
                    "task header \"$name\" must be a list of strings, got " . json_encode($values),
                );
            }
            $result[(string) $name] = $values;
        }
        return $result;
    }

    private static function excerpt(string $text): string
    {
        $cut = \strlen($text) > 200 ? substr($text, 0, 200) . '...' : $text;
        return json_encode($cut, \JSON_INVALID_UTF8_SUBSTITUTE | \JSON_UNESCAPED_SLASHES) ?: '(unprintable)';
    }
}
