"""/api/me, /api/tokens (your API tokens), /api/users (admins): accounts over REST."""

from __future__ import annotations

from fastapi import APIRouter, status

from app.api.deps import AdminDep, IdPath, PrincipalDep, UowDep
from app.schemas.accounts import Principal, TokenCreate, TokenCreated, TokenRead, UserCreate, UserRead
from app.services import accounts

router = APIRouter(tags=["accounts"])


@router.get("/me", response_model=Principal, response_model_exclude={"csrf_token"})
def who_am_i(principal: PrincipalDep) -> Principal:
    """The caller: user id, name, admin or not, and how they authenticated."""
    return principal


@router.get("/tokens", response_model=list[TokenRead])
def list_tokens(uow: UowDep, principal: PrincipalDep) -> list[TokenRead]:
    """Your API tokens (names and first characters only)."""
    return accounts.list_tokens(uow=uow, principal=principal)


@router.post("/tokens", response_model=TokenCreated, status_code=status.HTTP_201_CREATED)
def create_token(body: TokenCreate, uow: UowDep, principal: PrincipalDep) -> TokenCreated:
    """A new API token for you: `token` is in this answer only; send it as `Authorization: Bearer <token>`."""
    return accounts.create_token(uow=uow, principal=principal, name=body.name)


@router.delete("/tokens/{token_id}", response_model=TokenRead)
def revoke_token(token_id: IdPath, uow: UowDep, principal: PrincipalDep) -> TokenRead:
    """Revoke one of your tokens (an admin: anyone's); it stops working at once."""
    return accounts.revoke_token(uow=uow, principal=principal, token_id=token_id)


@router.get("/users", response_model=list[UserRead])
def list_users(uow: UowDep, _: AdminDep) -> list[UserRead]:
    """Every user (admins only)."""
    return accounts.list_users(uow=uow)


@router.post("/users", response_model=UserRead, status_code=status.HTTP_201_CREATED)
def create_user(body: UserCreate, uow: UowDep, _: AdminDep) -> UserRead:
    """A new user (admins only); the password must have at least 10 characters."""
    return accounts.create_user(uow=uow, name=body.name, password=body.password.get_secret_value(), admin=body.admin)
