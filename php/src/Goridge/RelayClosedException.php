<?php

declare(strict_types=1);

namespace Coyote\Goridge;

/** The peer closed the relay cleanly between two frames. */
final class RelayClosedException extends FrameException
{
}
