"""/api/me, /api/tokens (your API tokens), /api/users (admins): accounts over REST."""

from __future__ import annotations

from fastapi import APIRouter, status

from app.api.deps import AdminDep, IdPath, PrincipalDep, SessionDep
from app.schemas.accounts import Principal, TokenCreate, TokenCreated, TokenRead, UserCreate, UserRead
from app.services import accounts

router = APIRouter(tags=["accounts"])


@router.get("/me", response_model=Principal, response_model_exclude={"csrf_token"})
def who_am_i(principal: PrincipalDep) -> Principal:
    """The caller: user id, name, admin or not, and how they authenticated."""
    return principal


@router.get("/tokens", response_model=list[TokenRead])
def list_tokens(db: SessionDep, principal: PrincipalDep) -> list[TokenRead]:
    """Your API tokens (names and first characters only)."""
    return accounts.list_tokens(db=db, user_id=principal.user_id)


@router.post("/tokens", response_model=TokenCreated, status_code=status.HTTP_201_CREATED)
def create_token(body: TokenCreate, db: SessionDep, principal: PrincipalDep) -> TokenCreated:
    """A new API token for you: `token` is in this answer only; send it as `Authorization: Bearer <token>`."""
    return accounts.create_token(db=db, user_id=principal.user_id, name=body.name)


@router.delete("/tokens/{token_id}", response_model=TokenRead)
def revoke_token(token_id: IdPath, db: SessionDep, principal: PrincipalDep) -> TokenRead:
    """Revoke one of your tokens (an admin: anyone's); it stops working at once."""
    return accounts.revoke_token(db=db, principal=principal, token_id=token_id)


@router.get("/users", response_model=list[UserRead])
def list_users(db: SessionDep, _: AdminDep) -> list[UserRead]:
    """Every user (admins only)."""
    return accounts.list_users(db=db)


@router.post("/users", response_model=UserRead, status_code=status.HTTP_201_CREATED)
def create_user(body: UserCreate, db: SessionDep, _: AdminDep) -> UserRead:
    """A new user (admins only); the password must have at least 10 characters."""
    return accounts.create_user(db=db, name=body.name, password=body.password.get_secret_value(), admin=body.admin)
