<?php

declare(strict_types=1);

namespace Coyote\Jobs;

/**
 * The checks every CreateInfo makes before anything is sent.
 *
 * @internal
 */
final class PipelineChecks
{
    /** @throws \InvalidArgumentException */
    public static function common(string $name, int $priority, int $prefetch): void
    {
        if ($name === '') {
            throw new \InvalidArgumentException('a pipeline name must not be empty');
        }
        if ($priority < 0) {
            throw new \InvalidArgumentException("pipeline priority must be 0 or more, got $priority");
        }
        if ($prefetch < 1) {
            throw new \InvalidArgumentException("prefetch must be 1 or more, got $prefetch");
        }
    }
}
