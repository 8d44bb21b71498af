<?php

declare(strict_types=1);

namespace Coyote\Jobs;

/**
 * How a pushed task is queued, sent as jobs.v1 Options: `delay` (seconds
 * before it may be consumed, field 3), `priority` (field 1; the memory
 * driver hands out lower numbers first) and `autoAck` (field 6: the server
 * acknowledges the task when it hands it to a worker, so a failure is not
 * retried). The pipeline (field 2) is filled in by the Queue.
 */
final class Options
{
    public const DEFAULT_DELAY = 0;
    public const DEFAULT_PRIORITY = 10;
    public const DEFAULT_AUTO_ACK = false;

    /** @throws \InvalidArgumentException when delay or priority is negative */
    public function __construct(
        public readonly int $delay = self::DEFAULT_DELAY,
        public readonly int $priority = self::DEFAULT_PRIORITY,
        public readonly bool $autoAck = self::DEFAULT_AUTO_ACK,
    ) {
        if ($delay < 0) {
            throw new \InvalidArgumentException("delay must be 0 or more seconds, got $delay");
        }
        if ($priority < 0) {
            throw new \InvalidArgumentException("priority must be 0 or more, got $priority");
        }
    }

    public function withDelay(int $seconds): self
    {
        return new self($seconds, $this->priority, $this->autoAck);
    }

    public function withPriority(int $priority): self
    {
        return new self($this->delay, $priority, $this->autoAck);
    }

    public function withAutoAck(bool $autoAck = true): self
    {
        return new self($this->delay, $this->priority, $autoAck);
    }
}
