<?php

declare(strict_types=1);

namespace App\Exceptions;

use Illuminate\Validation\ValidationException;
use Laravel\Lumen\Exceptions\Handler as LumenHandler;
use Symfony\Component\HttpKernel\Exception\HttpException;

/** As in Lumen's application skeleton: HTTP errors (404, 405, ...) are answers, not log entries. */
final class Handler extends LumenHandler
{
    protected $dontReport = [
        HttpException::class,
        ValidationException::class,
    ];
}
