<?php

declare(strict_types=1);

namespace Coyote\Handoff;

/** How a hand-off worker gets its connections (`RR_MODE`). */
enum Mode: string
{
    /** The worker accepts on its own listening socket (fd 4). */
    case Reuseport = 'reuseport';
    /** Coyote accepts and passes each connection over the control socket. */
    case FdPassing = 'fd_passing';
}
