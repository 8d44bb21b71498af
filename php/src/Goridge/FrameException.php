<?php

declare(strict_types=1);

namespace Coyote\Goridge;

/** Bytes from the peer are not a valid goridge frame; the relay is unusable. */
class FrameException extends \RuntimeException
{
}
