<?php

declare(strict_types=1);

namespace Coyote\Jobs;

/**
 * A durable pipeline kept in a file: `{driver: boltdb, name, priority,
 * prefetch, file}`. A relative `file` is resolved by the server against
 * its working directory.
 */
final class BoltdbCreateInfo implements CreateInfo
{
    public const DEFAULT_FILE = 'rr.db';
    public const DEFAULT_PRIORITY = 10;
    public const DEFAULT_PREFETCH = 10000;

    /** @throws \InvalidArgumentException on an empty name or file, a negative priority or a prefetch below 1 */
    public function __construct(
        public readonly string $name,
        public readonly string $file = self::DEFAULT_FILE,
        public readonly int $priority = self::DEFAULT_PRIORITY,
        public readonly int $prefetch = self::DEFAULT_PREFETCH,
    ) {
        PipelineChecks::common($name, $priority, $prefetch);
        if ($file === '') {
            throw new \InvalidArgumentException('a boltdb pipeline needs a file');
        }
    }

    public function getName(): string
    {
        return $this->name;
    }

    public function toMap(): array
    {
        return [
            'driver' => 'boltdb',
            'name' => $this->name,
            'priority' => (string) $this->priority,
            'prefetch' => (string) $this->prefetch,
            'file' => $this->file,
        ];
    }
}
