<?php

declare(strict_types=1);

namespace Coyote\Tcp;

/** The `event` of a TCP connection's context, as the server names it. */
enum TcpEvent: string
{
    case Connected = 'CONNECTED';
    case Data = 'DATA';
    case Close = 'CLOSE';
    case Unknown = 'UNKNOWN';
}
