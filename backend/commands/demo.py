"""`shuangsui demo`: a realistic synthetic directory for 广元市利州区 (departments, enterprises, inspectors,
published check items) and one demo account per role, all with the password demo1234."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import func, insert, select
from sqlmodel import Session

from ..db import session_scope
from ..models.accounts import ROLE_LABELS, User
from ..models.base import utcnow
from ..models.directory import CheckItem, CheckItemVersion, Checkpoint, Department, Enterprise, Inspector
from ..services import audit
from ..services.auth import hash_password
from ..services.uscc import make_uscc

DEMO_PASSWORD = "demo1234"  # noqa: S105 - published demo credential, never used outside demo data

# 广元市 (5108) counties; most of the directory sits in 利州区 where the three departments are.
REGIONS = {
    "510802": (
        "广元市利州区",
        ["东坝街道", "嘉陵街道", "河西街道", "上西街道", "南河街道", "雪峰街道", "宝轮镇", "大石镇"],
    ),
    "510811": ("广元市昭化区", ["元坝镇", "昭化镇", "红岩镇", "卫子镇"]),
    "510812": ("广元市朝天区", ["朝天镇", "羊木镇", "曾家镇", "中子镇"]),
    "510821": ("旺苍县", ["东河镇", "嘉川镇", "木门镇", "白水镇"]),
    "510822": ("青川县", ["乔庄镇", "青溪镇", "木鱼镇", "沙州镇"]),
    "510823": ("剑阁县", ["下寺镇", "普安镇", "剑门关镇", "白龙镇"]),
    "510824": ("苍溪县", ["陵江镇", "歧坪镇", "龙王镇", "元坝镇"]),
}
REGION_WEIGHTS = {"510802": 60, "510811": 7, "510812": 6, "510821": 7, "510822": 5, "510823": 7, "510824": 8}
ROADS = [
    "利州东路",
    "利州西路",
    "蜀门南路",
    "蜀门北路",
    "滨河北路",
    "南河大道",
    "万源路",
    "嘉陵路",
    "和平路",
    "天后路",
    "东坝大道",
    "建设路",
    "人民路",
    "新华街",
    "北街",
    "兴安路",
    "栖凤路",
    "工农路",
]
BRANDS = [
    "宏达",
    "鑫源",
    "蜀道",
    "嘉陵",
    "川北",
    "明月",
    "天成",
    "金穗",
    "翠云",
    "剑门",
    "皇泽",
    "凤凰",
    "千佛",
    "米仓",
    "利民",
    "惠民",
    "康泰",
    "华西",
    "瑞丰",
    "永兴",
    "兴旺",
    "福源",
    "盛世",
    "德润",
    "恒通",
    "博远",
    "金鼎",
    "顺达",
    "佳禾",
    "益康",
    "安泰",
    "鸿运",
    "万家",
    "百味",
    "绿源",
    "山珍",
    "七佛",
    "白龙湖",
    "曾家山",
    "女皇",
    "栖凤",
    "昭化",
    "朝天",
    "青溪",
    "唐家河",
    "广坪",
    "黄洋",
    "龙潭",
    "双河",
    "红星",
]
SURNAMES = (
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛"
    "叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文"
)
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国志文斌辉鹏飞宇浩婷雪梅琳晨欣怡瑶俊杰波林峰"


@dataclass(frozen=True)
class Industry:
    code: str  # GB/T 4754-2017
    words: tuple[str, ...]  # what the trade name says
    libraries: tuple[str, ...]  # 专项库
    weight: int
    sole_trader: bool = False  # mostly 个体工商户


INDUSTRIES = (
    Industry("C1391", ("淀粉制品", "粉条加工"), ("食品",), 3),
    Industry("C1411", ("食品", "糕点"), ("食品",), 3),
    Industry("C1431", ("米面制品", "挂面"), ("食品",), 3),
    Industry("C1512", ("酒业", "酿酒"), ("食品",), 2),
    Industry("C2720", ("制药", "药业"), ("药品",), 1),
    Industry("C3311", ("钢结构", "金属结构"), ("工业产品",), 2),
    Industry("C3435", ("电梯", "起重设备"), ("特种设备",), 1),
    Industry("E4790", ("建筑工程", "建设"), (), 3),
    Industry("F5211", ("百货", "商贸"), (), 6),
    Industry("F5212", ("超市", "购物中心"), ("食品",), 5, True),
    Industry("F5213", ("便利店",), ("食品",), 5, True),
    Industry("F5221", ("粮油",), ("食品",), 4, True),
    Industry("F5223", ("果蔬",), ("食品",), 4, True),
    Industry("F5251", ("大药房", "药店"), ("药品",), 4),
    Industry("F5265", ("加油站", "石油"), ("特种设备",), 2),
    Industry("G5435", ("危险货物运输", "物流"), ("特种设备",), 1),
    Industry("H6110", ("大酒店", "宾馆"), ("特种设备", "食品"), 2),
    Industry("H6210", ("酒楼", "饭店", "餐饮"), ("食品",), 8, True),
    Industry("H6220", ("快餐",), ("食品",), 5, True),
    Industry("H6291", ("小吃", "面馆"), ("食品",), 6, True),
    Industry("I6513", ("科技", "信息技术"), (), 2),
    Industry("K7010", ("房地产开发", "置业"), ("特种设备",), 2),
    Industry("Q8411", ("医院",), ("药品",), 1),
    Industry("D4511", ("燃气", "天然气"), ("特种设备",), 1),
)

DEPARTMENTS = (
    ("SCJG-510802", "广元市利州区市场监督管理局", "scjg"),
    ("WJJ-510802", "广元市利州区卫生健康局", "wjj"),
    ("YJJ-510802", "广元市利州区应急管理局", "yjj"),
)
RARE_SPECIALTIES = {"计量"}
SPECIALTIES = {
    "scjg": ["企业公示", "食品", "特种设备", "药品", "计量", "广告", "价格"],
    "wjj": ["公共卫生", "医疗", "饮用水"],
    "yjj": ["安全生产", "危险化学品"],
}

# (dept, code, name, basis, methods, category, specialty, checkpoints[(question, clause, kind, photo)])
ITEMS: tuple[tuple[str, str, str, str, list[str], str, str | None, list[tuple[str, str, str, bool]]], ...] = (
    (
        "scjg",
        "SCJG-01",
        "企业公示信息的抽查",
        "《企业信息公示暂行条例》第十四条、第十八条",
        ["书面检查", "实地检查", "网络监测"],
        "key",
        "企业公示",
        [
            ("企业是否按时报送并公示上一年度年度报告", "第八条", "pass_fail", False),
            ("年度报告公示的资产、经营等信息是否真实", "第十条", "pass_fail", False),
            ("登记的住所（经营场所）能否联系", "第十七条", "pass_fail", True),
            ("股东出资、股权变更等即时信息是否按期公示", "第十条", "pass_fail", False),
        ],
    ),
    (
        "scjg",
        "SCJG-02",
        "食品经营者落实主体责任情况检查",
        "《中华人民共和国食品安全法》第三十三条、第四十四条、第五十三条",
        ["实地检查"],
        "key",
        "食品",
        [
            (
                "食品经营许可证是否在有效期内并在显著位置悬挂",
                "《食品经营许可和备案管理办法》第二十七条",
                "pass_fail",
                True,
            ),
            ("从业人员是否持有有效健康证明", "第四十五条", "pass_fail", False),
            ("是否建立并执行进货查验记录制度", "第五十三条", "pass_fail", False),
            ("食品贮存条件是否符合要求，有无过期变质食品", "第三十四条", "pass_fail", True),
            ("抽查在售预包装食品的标签数", "第六十七条", "number", False),
        ],
    ),
    (
        "scjg",
        "SCJG-03",
        "食品生产者落实主体责任情况检查",
        "《中华人民共和国食品安全法》第四十四条、第四十六条；《食品生产许可管理办法》",
        ["实地检查", "检验检测"],
        "key",
        "食品",
        [
            ("食品生产许可证是否在有效期内，生产范围是否一致", "《食品生产许可管理办法》第三十一条", "pass_fail", True),
            ("是否建立食品安全自查制度并定期自查", "第四十七条", "pass_fail", False),
            ("原料进货查验和出厂检验记录是否完整", "第五十条、第五十一条", "pass_fail", False),
            ("生产环境和设备设施是否符合卫生规范", "第三十三条", "pass_fail", True),
        ],
    ),
    (
        "scjg",
        "SCJG-04",
        "特种设备使用单位监督检查",
        "《中华人民共和国特种设备安全法》第三十二条至第四十五条",
        ["实地检查"],
        "key",
        "特种设备",
        [
            ("特种设备是否办理使用登记", "第三十三条", "pass_fail", True),
            ("特种设备是否在检验有效期内使用", "第四十条", "pass_fail", True),
            ("作业人员是否持证上岗", "第十四条", "pass_fail", False),
            ("是否建立特种设备安全技术档案", "第三十五条", "pass_fail", False),
            ("是否制定应急预案并定期演练", "第六十九条", "pass_fail", False),
            ("在用特种设备台数", "", "number", False),
        ],
    ),
    (
        "scjg",
        "SCJG-05",
        "药品零售企业监督检查",
        "《中华人民共和国药品管理法》第五十三条；《药品经营质量管理规范》",
        ["实地检查"],
        "key",
        "药品",
        [
            ("药品经营许可证是否在有效期内", "第五十一条", "pass_fail", True),
            ("执业药师是否在岗并按规定处方审核", "第五十八条", "pass_fail", False),
            ("处方药是否凭处方销售", "第五十四条", "pass_fail", False),
            ("药品储存温湿度是否符合要求", "《药品经营质量管理规范》第八十三条", "pass_fail", True),
        ],
    ),
    (
        "scjg",
        "SCJG-06",
        "强制检定计量器具监督检查",
        "《中华人民共和国计量法》第九条；《中华人民共和国计量法实施细则》",
        ["实地检查"],
        "general",
        "计量",
        [
            ("强制检定计量器具是否按期检定", "第九条", "pass_fail", True),
            ("计量器具是否有合格印证", "实施细则第十一条", "pass_fail", True),
            ("使用的强检计量器具台数", "", "number", False),
        ],
    ),
    (
        "scjg",
        "SCJG-07",
        "广告发布行为检查",
        "《中华人民共和国广告法》第四条、第九条、第二十八条",
        ["网络监测", "实地检查"],
        "general",
        "广告",
        [
            ("广告内容是否含有虚假或引人误解的内容", "第二十八条", "pass_fail", True),
            ("是否使用“国家级”“最高级”“最佳”等用语", "第九条", "pass_fail", False),
            ("医疗、药品等广告是否经审查", "第四十六条", "pass_fail", False),
        ],
    ),
    (
        "scjg",
        "SCJG-08",
        "经营者明码标价情况检查",
        "《中华人民共和国价格法》第十三条；《明码标价和禁止价格欺诈规定》",
        ["实地检查"],
        "general",
        "价格",
        [
            ("商品和服务是否明码标价", "第十三条", "pass_fail", True),
            ("标价签内容是否完整规范", "《明码标价和禁止价格欺诈规定》第八条", "pass_fail", True),
            ("是否存在价格欺诈行为", "第十四条", "choice", False),
        ],
    ),
    (
        "wjj",
        "WJJ-01",
        "公共场所卫生监督检查",
        "《公共场所卫生管理条例》第六条、第七条；《公共场所卫生管理条例实施细则》",
        ["实地检查", "检验检测"],
        "key",
        "公共卫生",
        [
            ("是否取得公共场所卫生许可证", "第八条", "pass_fail", True),
            ("从业人员是否取得健康合格证明", "第七条", "pass_fail", False),
            ("是否按规定开展卫生检测并公示结果", "实施细则第二十条", "pass_fail", True),
        ],
    ),
    (
        "wjj",
        "WJJ-02",
        "医疗机构依法执业检查",
        "《医疗机构管理条例》第十五条、第二十四条；《中华人民共和国医师法》",
        ["实地检查", "书面检查"],
        "key",
        "医疗",
        [
            ("是否持有有效的医疗机构执业许可证", "第十五条", "pass_fail", True),
            ("诊疗活动是否超出登记的诊疗科目", "第二十六条", "pass_fail", False),
            ("卫生技术人员是否具有执业资格", "第二十八条", "pass_fail", False),
            ("医疗废物是否分类收集并规范处置", "《医疗废物管理条例》第十六条", "pass_fail", True),
        ],
    ),
    (
        "wjj",
        "WJJ-03",
        "生活饮用水卫生监督检查",
        "《生活饮用水卫生监督管理办法》第六条、第七条",
        ["实地检查", "检验检测"],
        "general",
        "饮用水",
        [
            ("集中式供水单位是否取得卫生许可证", "第七条", "pass_fail", True),
            ("直接从事供、管水人员是否取得健康证明", "第十一条", "pass_fail", False),
            ("是否按规定对水质进行检测", "第六条", "pass_fail", False),
        ],
    ),
    (
        "yjj",
        "YJJ-01",
        "工贸企业安全生产检查",
        "《中华人民共和国安全生产法》第二十一条、第二十八条",
        ["实地检查"],
        "key",
        "安全生产",
        [
            ("是否建立全员安全生产责任制", "第二十二条", "pass_fail", False),
            ("从业人员是否经安全生产教育和培训", "第二十八条", "pass_fail", False),
            ("是否开展事故隐患排查治理并如实记录", "第四十一条", "pass_fail", True),
            ("安全设备是否经常性维护、保养并定期检测", "第三十六条", "pass_fail", True),
        ],
    ),
    (
        "yjj",
        "YJJ-02",
        "危险化学品经营单位安全检查",
        "《危险化学品安全管理条例》第三十四条、第三十七条",
        ["实地检查"],
        "key",
        "危险化学品",
        [
            ("是否取得危险化学品经营许可证", "第三十三条", "pass_fail", True),
            ("储存场所是否符合国家标准要求", "第二十条", "pass_fail", True),
            ("是否建立危险化学品出入库核查登记制度", "第二十四条", "pass_fail", False),
            ("是否向不具备资质的单位销售剧毒化学品", "第三十八条", "choice", False),
            ("库存危险化学品品种数", "", "number", False),
        ],
    ),
)

# (username, display name, roles, department key, inspector slot)
ACCOUNTS: tuple[tuple[str, str, list[str], str | None, int | None], ...] = (
    ("admin", "系统管理员", ["admin"], None, None),
    ("planner", "市场监管局计划员", ["planner"], "scjg", None),
    ("planner_wjj", "卫健局计划员", ["planner"], "wjj", None),
    ("planner_yjj", "应急局计划员", ["planner"], "yjj", None),
    ("approver", "市场监管局分管领导", ["approver"], "scjg", None),
    ("supervisor", "市场监管局审核人", ["supervisor"], "scjg", None),
    ("inspector", "市场监管局执法人员甲", ["inspector"], "scjg", 0),
    ("inspector2", "市场监管局执法人员乙", ["inspector"], "scjg", 1),
    ("inspector3", "卫健局执法人员", ["inspector"], "wjj", 0),
    ("inspector4", "应急局执法人员", ["inspector"], "yjj", 0),
    ("witness", "监督员", ["witness"], None, None),
)


def _person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))


def _enterprises(rng: random.Random, count: int, now: Any) -> list[dict[str, Any]]:
    regions = list(REGION_WEIGHTS)
    region_weights = [REGION_WEIGHTS[r] for r in regions]
    industry_weights = [i.weight for i in INDUSTRIES]
    serials = rng.sample(range(10_000_000, 99_999_999), count)
    names: set[str] = set()
    rows = []
    for serial in serials:
        region = rng.choices(regions, region_weights)[0]
        place, towns = REGIONS[region]
        industry = rng.choices(INDUSTRIES, industry_weights)[0]
        sole = industry.sole_trader and rng.random() < 0.6
        coop = not sole and industry.code in ("F5223", "C1431") and rng.random() < 0.15
        word = rng.choice(industry.words)
        if sole:
            entity_type, kind, pattern = "个体工商户", "2", place[-3:] + "{brand}" + word + "店"
        elif coop:
            entity_type, kind, pattern = "农民专业合作社", "3", place + "{brand}" + word + "专业合作社"
        else:
            form = rng.choices(["有限公司", "有限责任公司", "股份有限公司"], [70, 25, 5])[0]
            entity_type = "股份有限公司" if form == "股份有限公司" else "有限责任公司"
            kind, pattern = "1", place + "{brand}" + word + form
        name = pattern.format(brand=rng.choice(BRANDS))
        while name in names:  # trade names are unique within a registration area
            name = pattern.format(brand=rng.choice(BRANDS) + rng.choice(BRANDS))
        names.add(name)
        city_place = place if place.startswith("广元") else "广元市" + place
        address = f"四川省{city_place}{rng.choice(towns)}{rng.choice(ROADS)}{rng.randint(1, 399)}号"
        roll = rng.random()
        status = (
            "active"
            if roll < 0.80
            else "operating"
            if roll < 0.92
            else rng.choice(["cancelled", "revoked", "moved_out"])
        )
        abnormal = rng.random() < 0.06
        serious = rng.random() < 0.012
        blacklist = serious and rng.random() < 0.4
        libraries = list(industry.libraries)
        if "食品" not in libraries and rng.random() < 0.05:
            libraries.append("食品")
        risk = rng.choices([1, 2, 3, 4], [50, 30, 15, 5])[0]
        if abnormal or serious:
            risk = max(risk, 3)
        rows.append(
            {
                "id": uuid.uuid4(),
                "uscc": make_uscc(region, serial, authority="9", entity_type=kind),
                "name": name,
                "entity_type": entity_type,
                "legal_representative": _person(rng),
                "phone": f"0839-{rng.randint(3000000, 8999999)}"
                if rng.random() < 0.3
                else f"1{rng.choice([38, 39, 58, 80, 86])}{rng.randint(10000000, 99999999)}",
                "registered_address": address,
                "business_address": address
                if rng.random() < 0.8
                else f"四川省广元市利州区{rng.choice(ROADS)}{rng.randint(1, 399)}号",
                "region_code": region,
                "industry_code": industry.code,
                "status": status,
                "special_libraries": libraries,
                "abnormal_list": abnormal,
                "serious_violation": serious,
                "blacklist": blacklist,
                "risk_level": risk,
                "complaints_count": rng.choices([0, 1, 2, 3, 5], [80, 10, 5, 3, 2])[0],
                "established_on": date(2000, 1, 1) + timedelta(days=rng.randint(0, 9000)),
                "lat": round(32.43 + rng.uniform(-0.35, 0.35), 6),
                "lng": round(105.84 + rng.uniform(-0.45, 0.45), 6),
                "active": True,
                "created_at": now,
                "updated_at": now,
            }
        )
    return rows


def seed(session: Session, *, seed_value: int = 2026, enterprises: int = 2400) -> dict[str, int]:
    """Create the demo directory; one transaction, bulk inserts, one audit entry."""
    rng = random.Random(seed_value)  # noqa: S311 - demo data only; the draw never uses `random`
    now = utcnow()
    today = date.today()
    departments = {}
    for code, name, key in DEPARTMENTS:
        dept = Department(code=code, name=name, region_code="510802", level="county")
        session.add(dept)
        departments[key] = dept
    session.flush()

    session.execute(insert(Enterprise), _enterprises(rng, enterprises, now))

    inspectors: dict[str, list[Inspector]] = {key: [] for key in departments}
    per_dept = {"scjg": 24, "wjj": 12, "yjj": 12}
    n = 0
    for key, count in per_dept.items():
        prefix = key.upper()
        for i in range(count):
            n += 1
            # The first two of each department back the demo inspector accounts: keep them valid.
            expired = i >= 2 and rng.random() < 0.15
            valid_until = (
                today - timedelta(days=rng.randint(10, 400))
                if expired
                else today + timedelta(days=rng.randint(60, 1500))
            )
            # 计量 needs its own qualification: in the demo only the first two of 市场监管局 (the demo
            # inspector accounts) hold it, so the demo 计量 draw below always lands on their phones.
            pool = [s for s in SPECIALTIES[key] if s not in RARE_SPECIALTIES]
            specialties = rng.sample(pool, k=min(len(pool), rng.randint(1, 3)))
            if i < 2:
                specialties = list(SPECIALTIES[key])
            insp = Inspector(
                staff_no=f"{prefix}-{i + 1:04d}",
                name=_person(rng),
                department_id=departments[key].id,
                certificate_no=f"川执{510802}{2018 + n % 6}{n:04d}",
                certificate_type="行政执法证",
                certificate_valid_until=valid_until,
                specialties=specialties,
                region_codes=["510802", *rng.sample(sorted(set(REGIONS) - {"510802"}), k=rng.randint(0, 2))],
                years_of_service=rng.randint(1, 30),
                phone=f"1{rng.choice([38, 39, 58, 80])}{rng.randint(10000000, 99999999)}",
            )
            session.add(insp)
            inspectors[key].append(insp)
    session.flush()

    password_hash = hash_password(DEMO_PASSWORD)  # one hash for every demo account keeps seeding fast
    admin = None
    for username, display, roles, dept_key, slot in ACCOUNTS:
        user = User(
            username=username,
            display_name=display,
            password_hash=password_hash,
            roles=roles,
            department_id=departments[dept_key].id if dept_key else None,
            inspector_id=inspectors[dept_key][slot].id if dept_key and slot is not None else None,
        )
        session.add(user)
        if username == "admin":
            admin = user
    session.flush()

    checkpoints = 0
    for dept_key, code, name, basis, methods, category, specialty, points in ITEMS:
        item = CheckItem(code=code, department_id=departments[dept_key].id)
        session.add(item)
        session.flush()
        version = CheckItemVersion(
            item_id=item.id,
            version=1,
            status="published",
            name=name,
            basis=basis,
            methods=methods,
            content=f"依据{basis.split('；')[0]}，对{name.replace('检查', '').replace('的抽查', '')}情况进行检查。",
            category=category,
            target_scope="辖区内" + ("相关市场主体" if dept_key == "scjg" else "相关单位"),
            specialty=specialty,
            change_note="首次发布",
            published_at=now,
            published_by=admin.id if admin else None,
        )
        session.add(version)
        session.flush()
        for pos, (question, clause, kind, photo) in enumerate(points):
            session.add(
                Checkpoint(
                    item_version_id=version.id,
                    position=pos,
                    key=f"cp{pos + 1}",
                    question=question,
                    legal_clause=clause,
                    answer_kind=kind,
                    options=["未发现", "轻微", "严重"] if kind == "choice" else [],
                    photo_required=photo,
                )
            )
            checkpoints += 1
    counts = {
        "departments": len(departments),
        "enterprises": enterprises,
        "inspectors": sum(len(v) for v in inspectors.values()),
        "items": len(ITEMS),
        "checkpoints": checkpoints,
        "accounts": len(ACCOUNTS),
    }
    audit.record(session=session, actor=None, action="demo.seed", entity="system", data={"seed": seed_value, **counts})
    session.commit()
    return counts


# The demo draw: a joint 计量 + 公共场所卫生 check of 商场超市、宾馆 in 利州区, led by 市场监管局.
DRAW_FILTERS = {"region_codes": ["510802"], "industry_codes": ["F5211", "F5212", "H6110"]}
DRAW_ITEMS = ("SCJG-06", "WJJ-01")
DRAW_MAX_FORMS = 15
WITNESS_SOURCE = "见证人号码"


def seed_draw(session: Session, settings: Any, *, seed_value: int = 2026, today: date | None = None) -> str:
    """Plan -> task -> notice -> witness numbers -> draw -> dispatch, through the real services.

    Returns a line for the console; a day the holiday calendar does not cover (or a directory too small
    for a 5 % draw) skips the draw with a note instead of failing the demo."""
    from ..errors import DomainError
    from ..services import draws, plans, tasks
    from ..services.population import count_eligible, max_count
    from ..services.workdays import CalendarNotCovered, plan_deadline

    today = today or date.today()
    rng = random.Random(f"{seed_value}-draw")  # noqa: S311 - the witness numbers; the draw's secret is fresh
    names = [a[0] for a in ACCOUNTS]
    found = session.execute(select(User).where(User.username.in_(names))).scalars()  # type: ignore[attr-defined]
    users = {u.username: u for u in found}
    planner, approver, witness = users["planner"], users["approver"], users["witness"]
    try:
        tasks.add_workdays(session, today, 5)  # dispatch needs the calendar up to 5 工作日 ahead
        inspection_day = tasks.add_workdays(session, today, 2)
        deadline = plan_deadline(inspection_day.year, overrides=tasks.calendar_overrides(session))
        if deadline < inspection_day:  # demo run after 11月20日: keep the plan open to year end
            deadline = plan_deadline(inspection_day.year, 12, 31, overrides=tasks.calendar_overrides(session))
    except CalendarNotCovered as exc:
        return f"未创建演示摇号：{exc.message}"
    size = count_eligible(session, DRAW_FILTERS)
    count = min(DRAW_MAX_FORMS, max_count(Decimal("0.05"), size))
    if count < 2:
        return f"未创建演示摇号：商场超市、宾馆仅 {size} 户，按 5% 上限不足 2 户（请增加 --enterprises）"
    items = {
        i.code: i
        for i in session.execute(select(CheckItem).where(CheckItem.code.in_(DRAW_ITEMS))).scalars()  # type: ignore[attr-defined]
    }
    item_ids = {code: item.id for code, item in items.items()}
    versions: dict[str, uuid.UUID] = {}
    for code, item in items.items():
        for version in session.execute(select(CheckItemVersion).where(CheckItemVersion.item_id == item.id)).scalars():
            if version.status == "published":
                versions[code] = version.id
    wjj = session.execute(select(Department).where(Department.code == "WJJ-510802")).scalar_one()  # type: ignore[arg-type]
    year = inspection_day.year
    try:
        plan = plans.create_plan(
            session=session,
            actor=planner,
            values={
                "name": f"{year} 年度利州区商场超市、宾馆计量和公共场所卫生部门联合双随机抽查计划",
                "year": year,
                "item_ids": [item_ids[c] for c in DRAW_ITEMS],
                "target_scope": "利州区内存续、在业的百货商场、超市和宾馆",
                "target_filters": DRAW_FILTERS,
                "methods": ["实地检查"],
                "ratio": "0.05",
                "participating_department_ids": [wjj.id],
                "deadline": deadline,
            },
        )
        plans.submit_plan(session=session, actor=planner, plan_id=plan.id)
        plans.approve_plan(session=session, actor=approver, settings=settings, plan_id=plan.id)
        plans.publish_plan(session=session, actor=planner, settings=settings, plan_id=plan.id)
        task = tasks.create_task(
            session=session,
            actor=planner,
            values={
                "plan_id": plan.id,
                "name": f"{year} 年商场超市、宾馆联合抽查（第一批）",
                "item_version_ids": [versions[c] for c in DRAW_ITEMS],
                "target_filters": DRAW_FILTERS,
                "count": count,
                "strata_key": "industry_code",
                "inspection_date": inspection_day,
            },
            today=today,
        )
        draws.publish_notice(
            session=session,
            actor=planner,
            settings=settings,
            task_id=task.id,
            entropy_sources=[
                {
                    "name": WITNESS_SOURCE,
                    "kind": "numbers",
                    "count": 5,
                    "description": "公告后由到场监督员现场报出的 5 个号码（RFC 3797 格式）",
                }
            ],
            today=today,
        )
        numbers = [rng.randint(0, 99) for _ in range(5)]
        draws.enter_entropy(session=session, actor=witness, task_id=task.id, source=WITNESS_SOURCE, numbers=numbers)
        draws.perform_draw(session=session, actor=planner, settings=settings, task_id=task.id)
        result = draws.dispatch(session=session, actor=planner, task_id=task.id, today=today)
    except DomainError as exc:
        session.rollback()
        detail = f"（{exc.errors}）" if exc.errors else ""
        return f"未完成演示摇号：{exc.message}{detail}"
    return (
        f"演示摇号：计划“{plan.name}”已公布，任务 {task.code} 已公告、摇号并派发 {result.forms} 份检查表"
        f"（检查日期 {inspection_day.isoformat()}），执法人员账号 inspector、inspector2 登录即可看到。"
    )


def accounts_table(session: Session) -> list[tuple[str, str, str]]:
    names = [a[0] for a in ACCOUNTS]
    users = {u.username: u for u in session.execute(select(User).where(User.username.in_(names))).scalars()}  # type: ignore[attr-defined]
    depts = {d.id: d.name for d in session.execute(select(Department)).scalars()}
    rows = []
    for name in names:
        user = users.get(name)
        if user is None:
            continue
        roles = "、".join(ROLE_LABELS.get(r, r) for r in user.roles)
        rows.append((user.username, roles, depts.get(user.department_id, "—") if user.department_id else "—"))
    return rows


@click.group("demo", invoke_without_command=True)
@click.option("--if-empty", is_flag=True, help="只在数据库还没有任何部门和检查对象时创建")
@click.option(
    "--seed", "seed_value", default=2026, show_default=True, type=int, help="随机种子（同一种子得到同样的数据）"
)
@click.option("--enterprises", default=2400, show_default=True, type=int, help="检查对象数量")
@click.pass_context
@with_appcontext
def demo_group(ctx: click.Context, if_empty: bool, seed_value: int, enterprises: int) -> None:
    """创建演示数据：3 个部门、检查对象、执法人员、已发布的抽查事项和各角色演示账号（密码 demo1234）。"""
    if ctx.invoked_subcommand is not None:
        return
    engine = current_app.extensions["shuangsui.engine"]
    with session_scope(engine) as session:
        has_data = (
            session.execute(select(func.count()).select_from(Department)).scalar_one()
            or session.execute(select(func.count()).select_from(Enterprise)).scalar_one()
        )
        taken = session.execute(select(User.id).where(User.username.in_([a[0] for a in ACCOUNTS]))).first()  # type: ignore[attr-defined]
        if has_data or taken:
            if if_empty:
                click.echo("数据库中已有数据，跳过演示数据。")
                return
            raise click.ClickException("数据库中已有数据；演示数据只能写入空数据库（或使用 --if-empty 跳过）")
        counts = seed(session, seed_value=seed_value, enterprises=enterprises)
        drawn = seed_draw(
            session,
            current_app.config["SETTINGS"],
            seed_value=seed_value,
            today=current_app.config.get("SHUANGSUI_TODAY") or date.today(),
        )
    click.echo(
        f"演示数据已创建：{counts['departments']} 个部门，{counts['enterprises']} 个检查对象，"
        f"{counts['inspectors']} 名执法人员，{counts['items']} 个抽查事项（{counts['checkpoints']} 个检查要点），"
        f"{counts['accounts']} 个演示账号（密码 {DEMO_PASSWORD}）。"
    )
    click.echo(drawn)


@demo_group.command("accounts")
@with_appcontext
def demo_accounts() -> None:
    """打印演示账号表（用户名 / 角色 / 部门）。"""
    engine = current_app.extensions["shuangsui.engine"]
    with session_scope(engine) as session:
        rows = accounts_table(session)
    if not rows:
        click.echo("   （尚未创建演示账号：运行 shuangsui demo）")
        return
    width = max(len(r[0]) for r in rows)
    click.echo(f"   {'用户名'.ljust(width)}  角色          部门")
    for username, roles, dept in rows:
        click.echo(f"   {username.ljust(width)}  {roles.ljust(8, '　')}  {dept}")


def register(app: Flask) -> None:
    app.cli.add_command(demo_group)
