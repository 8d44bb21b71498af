<?php

declare(strict_types=1);

namespace Coyote\Jobs;

use Coyote\Proto\Jobs\Stat as StatMessage;

/**
 * One pipeline's state, from jobs.Stat (jobs.v1 Stat): `active` tasks are
 * queued and not yet handed to a worker, `delayed` wait for their delay,
 * `reserved` are with a worker and not yet answered; `ready` is true while
 * the pipeline consumes (false when paused).
 */
final class Stat
{
    public function __construct(
        public readonly string $pipeline,
        public readonly string $driver,
        public readonly string $queue,
        public readonly int $active,
        public readonly int $delayed,
        public readonly int $reserved,
        public readonly bool $ready,
        public readonly int $priority,
    ) {
    }

    public static function fromMessage(StatMessage $stat): self
    {
        return new self(
            $stat->getPipeline(),
            $stat->getDriver(),
            $stat->getQueue(),
            (int) $stat->getActive(),
            (int) $stat->getDelayed(),
            (int) $stat->getReserved(),
            $stat->getReady(),
            (int) $stat->getPriority(),
        );
    }
}
