// The package engine's errors: what went wrong in the package domain, without HTTP. The API's
// registry turns each into a metav1.Status (src/apiserver/registry/packagerevisions.ts).
import type { FieldError } from '../api/fielderrors.ts';

export class PackageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The request asks for something the package rules refuse (422 Invalid with every cause). */
export class PackageInvalidError extends PackageError {
  constructor(
    readonly kind: string,
    readonly objectName: string,
    readonly errors: FieldError[],
  ) {
    super(errors.map((e) => `${e.field}: ${e.message}`).join('; '));
  }
}

/** What would be created is there already (409 AlreadyExists). */
export class PackageExistsError extends PackageError {}

/** Another writer changed the same thing first, or the revision is still in use (409 Conflict). */
export class PackageConflictError extends PackageError {}

/** A git remote or the credentials it needs cannot be used now; retrying later may work (503). */
export class PackageUnavailableError extends PackageError {
  constructor(
    message: string,
    /** AuthenticationFailed: the remote refused the credentials; Unreachable: no answer; Locked: another replica held the repository's lock too long */
    readonly reason?: 'AuthenticationFailed' | 'Unreachable' | 'Locked',
  ) {
    super(message);
  }
}
