/*-------------------------------------------------------------------------
 *
 * vfs.c
 *		The POSIX I/O backend of the storage layer.
 *
 * The storage layer reaches the file system only through a struct pgr_vfs,
 * so that tests can substitute backends that fail on demand or forget
 * unsynced writes.  This is the real one: plain descriptors, EINTR retried,
 * short transfers continued, and every durability request ending in
 * fdatasync or fsync.
 *
 * Copyright (c) 2026, pgraft contributors (MIT License: see LICENSE)
 *
 * src/storage/vfs.c
 *
 *-------------------------------------------------------------------------
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pgraft/storage.h"

static int
posix_open(void *ctx, const char *path, int flags, int *fd_out)
{
	int oflags;
	int fd;

	(void) ctx;
	if (flags & PGR_VFS_DIR)
		oflags = O_RDONLY | O_DIRECTORY;
	else if (flags & PGR_VFS_WRITE)
		oflags = O_RDWR;
	else
		oflags = O_RDONLY;
	if (flags & PGR_VFS_CREATE)
		oflags |= O_CREAT | O_EXCL;
	do
		fd = open(path, oflags | O_CLOEXEC, 0600);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return errno;
	*fd_out = fd;
	return 0;
}

static int
posix_close(void *ctx, int fd)
{
	(void) ctx;
	/* Not retried on EINTR: on Linux the descriptor is gone either way. */
	return close(fd) == 0 ? 0 : errno;
}

static int
posix_pread(void *ctx, int fd, void *buf, size_t len, uint64_t off, size_t *nread)
{
	size_t done = 0;

	(void) ctx;
	while (done < len)
	{
		ssize_t n = pread(fd, (char *) buf + done, len - done, (off_t) (off + done));

		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			return errno;
		}
		if (n == 0)
			break;
		done += (size_t) n;
	}
	*nread = done;
	return 0;
}

static int
posix_pwrite(void *ctx, int fd, const void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	(void) ctx;
	while (done < len)
	{
		ssize_t n = pwrite(fd, (const char *) buf + done, len - done, (off_t) (off + done));

		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			return errno;
		}
		/* A zero-length write of a nonzero request means the disk is full. */
		if (n == 0)
			return ENOSPC;
		done += (size_t) n;
	}
	return 0;
}

/*
 * The one place the storage layer asks for durability.  Never retried, not
 * even on EINTR: after a failed fsync the dirty pages may already be gone and
 * a second, successful call would only hide that.
 */
static int
posix_sync(void *ctx, int fd, bool metadata)
{
	(void) ctx;
	if (metadata)
		return fsync(fd) == 0 ? 0 : errno;
	return fdatasync(fd) == 0 ? 0 : errno;
}

static int
posix_allocate(void *ctx, int fd, uint64_t len)
{
	int rc;

	(void) ctx;
	/* posix_fallocate returns the error; glibc emulates it where needed. */
	do
		rc = posix_fallocate(fd, 0, (off_t) len);
	while (rc == EINTR);
	return rc;
}

static int
posix_size(void *ctx, int fd, uint64_t *size_out)
{
	struct stat sb;

	(void) ctx;
	if (fstat(fd, &sb) != 0)
		return errno;
	*size_out = (uint64_t) sb.st_size;
	return 0;
}

static int
posix_rename(void *ctx, const char *from, const char *to)
{
	(void) ctx;
	return rename(from, to) == 0 ? 0 : errno;
}

static int
posix_unlink(void *ctx, const char *path)
{
	(void) ctx;
	return unlink(path) == 0 ? 0 : errno;
}

static int
posix_mkdir(void *ctx, const char *path)
{
	(void) ctx;
	return mkdir(path, 0700) == 0 ? 0 : errno;
}

static int
posix_list(void *ctx, const char *dir, int (*cb)(void *arg, const char *name), void *arg)
{
	DIR *d;
	struct dirent *de;
	int rc = 0;

	(void) ctx;
	d = opendir(dir);
	if (d == NULL)
		return errno;
	for (;;)
	{
		errno = 0;
		de = readdir(d);
		if (de == NULL)
		{
			rc = errno;
			break;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (cb(arg, de->d_name) != 0)
			break;
	}
	closedir(d);
	return rc;
}

const struct pgr_vfs pgr_posix_vfs = {
	.open = posix_open,
	.close = posix_close,
	.pread = posix_pread,
	.pwrite = posix_pwrite,
	.sync = posix_sync,
	.allocate = posix_allocate,
	.size = posix_size,
	.rename = posix_rename,
	.unlink = posix_unlink,
	.mkdir = posix_mkdir,
	.list = posix_list,
};
