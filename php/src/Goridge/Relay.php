<?php

declare(strict_types=1);

namespace Coyote\Goridge;

/** A bidirectional frame channel to the server. */
interface Relay
{
    public function send(Frame $frame): void;

    /** Blocks until a whole frame arrives. */
    public function receive(): Frame;

    /** True when a frame (or EOF) can be read without blocking. */
    public function hasPending(): bool;
}
