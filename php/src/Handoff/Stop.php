<?php

declare(strict_types=1);

namespace Coyote\Handoff;

/** Coyote asked the worker to stop (`{"stop":true}`), or hung up the control socket (`$eof`). */
final class Stop
{
    public function __construct(public readonly bool $eof = false)
    {
    }
}
