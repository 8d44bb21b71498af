<?php

declare(strict_types=1);

namespace Coyote\Handoff;

/**
 * A broken hand-off protocol: a malformed control message, a connection
 * without its descriptor, a control socket that is not SOCK_SEQPACKET.
 * The worker cannot go on safely; it exits and Coyote replaces it.
 */
class HandoffException extends \RuntimeException
{
}
