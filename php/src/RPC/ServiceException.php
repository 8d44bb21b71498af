<?php

declare(strict_types=1);

namespace Coyote\RPC;

/** The server answered an RPC call with an error. */
final class ServiceException extends \RuntimeException
{
}
