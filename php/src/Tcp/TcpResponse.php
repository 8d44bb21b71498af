<?php

declare(strict_types=1);

namespace Coyote\Tcp;

/**
 * What the server does with a worker's answer (the answer's context is
 * the value, its body the bytes to write).
 */
enum TcpResponse: string
{
    /** Close the connection. */
    case Close = 'CLOSE';
    /** Write the body, keep reading. */
    case Respond = 'WRITE';
    /** Write the body, then close. */
    case RespondClose = 'WRITECLOSE';
    /** Write nothing, keep reading. */
    case Read = 'CONTINUE';
}
