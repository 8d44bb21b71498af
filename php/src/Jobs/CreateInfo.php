<?php

declare(strict_types=1);

namespace Coyote\Jobs;

/**
 * A pipeline to declare at runtime (Jobs::declare): the map sent as
 * jobs.v1 DeclareRequest.pipeline, every value a string (`driver`, `name`,
 * `priority`, `prefetch` and the driver's own keys).
 */
interface CreateInfo
{
    /** The pipeline's name (the map's `name`). */
    public function getName(): string;

    /** @return array<string, string> */
    public function toMap(): array;
}
