<?php

declare(strict_types=1);

namespace Coyote\Jobs;

/**
 * An in-memory pipeline: `{driver: memory, name, priority, prefetch}`.
 * Its tasks are lost when the server stops.
 */
final class MemoryCreateInfo implements CreateInfo
{
    public const DEFAULT_PRIORITY = 10;
    public const DEFAULT_PREFETCH = 100000;

    /** @throws \InvalidArgumentException on an empty name, a negative priority or a prefetch below 1 */
    public function __construct(
        public readonly string $name,
        public readonly int $priority = self::DEFAULT_PRIORITY,
        public readonly int $prefetch = self::DEFAULT_PREFETCH,
    ) {
        PipelineChecks::common($name, $priority, $prefetch);
    }

    public function getName(): string
    {
        return $this->name;
    }

    public function toMap(): array
    {
        return [
            'driver' => 'memory',
            'name' => $this->name,
            'priority' => (string) $this->priority,
            'prefetch' => (string) $this->prefetch,
        ];
    }
}
